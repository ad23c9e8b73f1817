// BLE RTLS panel: a site on its floor plan, set up with the mouse. Receivers are placed and
// dragged to where they hang, zones drawn by clicking their corners (snapped to their
// neighbours' walls), tags added, renamed and surveyed, all followed live. Every change goes
// through the site's websocket commands, which check it as the options flow does; a refused
// one shows its message where it was made and the stored site is drawn again.

import {
  FloorMap, LEGEND, MAP_STYLE, SiteFeed, describeTag, el, floorsOf, onFloor,
} from "./ble-rtls-map.js";

// Screen pixels within which a corner snaps to another zone's corner or edge, and a press
// counts as a click rather than a drag.
const SNAP_PX = 10;
const CLICK_PX = 4;

const STYLE = `
  :host { display: block; height: 100%; overflow: auto; background: var(--primary-background-color);
          color: var(--primary-text-color); font-family: var(--paper-font-body1_-_font-family, sans-serif); }
  header { display: flex; gap: 8px; align-items: center; padding: 8px 16px; flex-wrap: wrap; }
  header h1 { font-size: 20px; margin: 0 16px 0 0; font-weight: 400; }
  .error { color: var(--error-color, #db4437); min-height: 1.2em; margin: 0; }
  #error { margin: 0 16px; }
  #tags { margin: 0 16px 8px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  main { display: flex; gap: 16px; margin: 0 16px 16px; align-items: flex-start; }
  #stage { flex: 1; min-width: 0; }
  #map { max-height: calc(100vh - 230px); }
  aside { width: 260px; display: flex; flex-direction: column; gap: 6px; }
  aside:empty { display: none; }
  aside h2 { font-size: 16px; font-weight: 500; margin: 0; }
  aside label { display: flex; flex-direction: column; font-size: 13px; gap: 2px; }
  aside label.check { flex-direction: row; align-items: center; gap: 6px; }
  aside .buttons { display: flex; gap: 6px; flex-wrap: wrap; }
`;

function slug(name) {
  return name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
}

function option(value, text, selected = false) {
  const node = document.createElement("option");
  node.value = String(value);
  node.textContent = text;
  node.selected = selected;
  return node;
}

function escape(text) {
  const node = document.createElement("span");
  node.textContent = String(text);
  return node.innerHTML;
}

// The nearest point within `reach` metres on another zone's corners, then its edges.
function snapped(point, zones, reach) {
  let best = null;
  let bestDistance = reach;
  for (const zone of zones) {
    for (const corner of zone.polygon) {
      const d = Math.hypot(corner[0] - point[0], corner[1] - point[1]);
      if (d <= bestDistance) [best, bestDistance] = [corner.slice(), d];
    }
  }
  if (best) return best;
  for (const zone of zones) {
    zone.polygon.forEach((a, i) => {
      const b = zone.polygon[(i + 1) % zone.polygon.length];
      const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
      const length2 = dx * dx + dy * dy;
      if (!length2) return;
      const t = Math.max(0, Math.min(1, ((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / length2));
      const on = [a[0] + t * dx, a[1] + t * dy];
      const d = Math.hypot(on[0] - point[0], on[1] - point[1]);
      if (d <= bestDistance) [best, bestDistance] = [on.map((v) => Math.round(v * 100) / 100), d];
    });
  }
  return best || point;
}

class BleRtlsPanel extends HTMLElement {
  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first) this._start();
  }

  get hass() {
    return this._hass;
  }

  set panel(_panel) {}

  set narrow(_narrow) {}

  disconnectedCallback() {
    if (this._feed) this._feed.stop();
  }

  async _start() {
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${MAP_STYLE}${STYLE}</style>
      <header>
        <h1>BLE RTLS</h1>
        <label>Site <select id="site"></select></label>
        <label>Floor <select id="floor"></select></label>
        <span class="admin">
          <select id="place"><option value="">Place a receiver…</option></select>
          <button id="draw" type="button">Draw a zone</button>
          <input id="zone-name" placeholder="Zone name" hidden>
          <button id="finish" type="button" hidden>Save zone</button>
          <label id="plan-label">Plan <input id="plan-file" type="file"
            accept="image/png,image/jpeg,image/svg+xml"></label>
          <input id="distance" type="number" min="0" step="any" placeholder="Metres between them"
            hidden>
          <button id="plan-save" type="button" hidden>Save plan</button>
          <button id="undo" type="button" disabled>Undo</button>
        </span>
        <span id="status" role="status"></span>
      </header>
      <p id="error" class="error" role="alert"></p>
      <div id="tags">
        <label>Tags <select id="tag-list"></select></label>
        <span class="admin">
          <button id="tag-remove" type="button">Remove</button>
          <button id="survey" type="button">Survey: click where it stands</button>
          <select id="nearby"><option value="">Add a device heard nearby…</option></select>
          <input id="tag-name" placeholder="Name">
          <input id="tag-address" placeholder="MAC address or iBeacon id">
          <select id="tag-motion">
            <option value="asset">asset</option><option value="person">person</option>
            <option value="vehicle">vehicle</option>
          </select>
          <button id="tag-add" type="button">Add tag</button>
        </span>
      </div>
      <main>
        <div id="stage"><svg id="map"></svg>${LEGEND}<div id="details" class="details"></div></div>
        <aside id="side"></aside>
      </main>`;
    this._admin = Boolean(this._hass.user && this._hass.user.is_admin);
    for (const part of root.querySelectorAll(".admin")) part.hidden = !this._admin;
    const on = (id, kind, handler) => root.getElementById(id).addEventListener(kind, handler);
    on("tag-add", "click", () => this._addTag());
    on("tag-remove", "click", () => this._removeTag());
    on("survey", "click", () => {
      this._mode = { survey: root.getElementById("tag-list").value };
      this._status("Click where the tag stands");
    });
    on("tag-list", "change", (e) => this._map.select(e.target.value));
    on("nearby", "change", (e) => {
      const device = this._nearby[Number(e.target.value)];
      if (!device) return;
      root.getElementById("tag-address").value = device.identity;
      root.getElementById("tag-name").value = device.name;
    });
    on("place", "change", (e) => {
      const scanner = (this._feed.scanners || []).find((s) => s.source === e.target.value);
      if (!scanner) return;
      this._mode = { place: scanner };
      this._status(`Click where ${scanner.name} hangs`);
    });
    on("plan-file", "change", (e) => this._upload(e.target));
    on("plan-save", "click", () => this._savePlan());
    on("draw", "click", () => this._beginZone());
    on("finish", "click", () => this._finishZone());
    on("undo", "click", () => this._undo());
    on("site", "change", (e) => this._load(e.target.value));
    on("floor", "change", (e) => {
      this._floor = Number(e.target.value);
      this._selected = null;
      this._draw();
    });
    this._svg = root.getElementById("map");
    // Steps under way (a survey, a corner) take a click before what it lands on.
    this._svg.addEventListener("click", (e) => this._step(e), true);
    this._svg.addEventListener("click", (e) => {
      if (e.target === this._svg || e.target.classList.contains("grid")) this._unselect();
    });
    const entries = await this._hass.callWS({ type: "config_entries/get", domain: "ble_rtls" });
    root.getElementById("site").replaceChildren(...entries.map((e) => option(e.entry_id, e.title)));
    if (entries.length) await this._load(entries[0].entry_id);
    else this._say("No BLE RTLS site yet: add one under Settings > Devices & services.");
  }

  _say(message, where = "error") {
    const root = this.shadowRoot;
    root.getElementById("error").textContent = "";
    const side = root.getElementById("side-error");
    if (side) side.textContent = "";
    const target = root.getElementById(where) || root.getElementById("error");
    target.textContent = message || "";
  }

  _status(message) {
    this.shadowRoot.getElementById("status").textContent = message;
  }

  async _load(entryId) {
    if (this._feed) this._feed.stop();
    this._feed = new SiteFeed(this._hass, entryId);
    this._feed.listeners.add((what) => {
      if (!this._map) return;
      if (what === "tags") {
        this._map.drawTags();
        this._showDetails();
      } else if (what === "health") {
        this._map.showHealth();
        if (this._admin) this._listPlaceable();
      } else if (what === "reloaded" && this._idle()) {
        this._showSite(); // changed elsewhere, or reloaded after a change made here
      }
    });
    this._map = null;
    const answer = await this._feed.start();
    this._show(answer);
  }

  // A site the commands answered with, and whether a change can be undone.
  _show(answer) {
    this.shadowRoot.getElementById("undo").disabled = !answer.can_undo;
    this._feed.setSite(answer.site);
    this._showSite();
  }

  _showSite() {
    const site = this._feed.site;
    this._listFloors();
    const selectedTag = this._map && this._map.selectedTag;
    this.shadowRoot.getElementById("tag-list").replaceChildren(...site.tags.map((tag) => option(
      tag.id, `${tag.name || tag.id} (${tag.motion || "asset"})`, tag.id === selectedTag,
    )));
    if (this._admin) {
      this._listNearby();
      this._feed.refreshHealth().catch(() => {}); // a receiver removed can be placed again
    }
    this._draw();
  }

  // The site's floors, and for an administrator one above them to start a new floor on.
  _listFloors() {
    const floors = floorsOf(this._feed.site);
    if (!floors.includes(this._floor)) this._floor = floors[0];
    const shown = this._admin ? [...floors, floors[floors.length - 1] + 1] : floors;
    this.shadowRoot.getElementById("floor").replaceChildren(...shown.map((floor) => option(
      floor, floors.includes(floor) ? String(floor) : `${floor} (new)`, floor === this._floor,
    )));
  }

  // Nothing under way that drawing the map again would lose: a form, a drag, a drawing.
  _idle() {
    return !(this._selected || this._dragging || this._drawing || this._mode || this._planSetup);
  }

  _listPlaceable() {
    const select = this.shadowRoot.getElementById("place");
    const unplaced = (this._feed.scanners || []).filter((s) => !s.placed);
    select.replaceChildren(select.options[0], ...unplaced.map((s) => option(s.source, s.name)));
  }

  async _listNearby() {
    const answer = await this._hass.callWS({ type: "ble_rtls/site/nearby", entry_id: this._feed.entryId });
    this._nearby = answer.devices;
    const select = this.shadowRoot.getElementById("nearby");
    select.replaceChildren(select.options[0], ...answer.devices.map((device, index) => option(
      index, `${device.name || device.address} · ${device.rssi} dBm`,
    )));
  }

  _edited() {
    return structuredClone(this._feed.site);
  }

  // Send the whole site; `where` is the id of the element that shows a refusal.
  async _change(site, where = "error") {
    this._say("");
    try {
      const answer = await this._hass.callWS({
        type: "ble_rtls/site/update", entry_id: this._feed.entryId, site,
      });
      this._status("Saved");
      this._show(answer);
      return true;
    } catch (err) {
      this._draw({ keepSide: true }); // the stored site, as it was; the form as typed
      this._say(err.message || String(err), where);
      return false;
    }
  }

  async _undo() {
    try {
      this._show(await this._hass.callWS({ type: "ble_rtls/site/undo", entry_id: this._feed.entryId }));
      this._status("Undone");
    } catch (err) {
      this._say(err.message || String(err));
    }
  }

  _draw({ keepSide = false } = {}) {
    if (this._planSetup) {
      this._drawPlanSetup();
      return;
    }
    const previous = this._map;
    this._map = new FloorMap(this._svg, this._feed, this._floor, {
      onTag: (tagId) => this._tagSelected(tagId),
      onError: (message) => this._say(message),
    });
    this._map.selectedTag = previous ? previous.selectedTag : null;
    this._map.draw();
    if (this._admin) this._decorate();
    if (!keepSide) this._showSide();
    this._showDetails();
  }

  // The editor's handles on the drawn map: receivers to drag, zones to pick, corners to move.
  _decorate() {
    const svg = this._svg;
    for (const dot of svg.querySelectorAll("[data-receiver]")) {
      dot.classList.add("editable");
      dot.classList.toggle("selected", this._selected?.receiver === dot.dataset.receiver);
      dot.addEventListener("pointerdown", (e) => this._dragReceiver(e, dot));
    }
    for (const shape of svg.querySelectorAll("[data-zone]")) {
      shape.classList.toggle("selected", this._selected?.zone === shape.dataset.zone);
      shape.addEventListener("click", (e) => {
        if (this._mode || this._drawing) return;
        e.stopPropagation();
        this._select({ zone: shape.dataset.zone });
      });
    }
    const layer = this._map.editLayer;
    if (this._drawing) {
      el("polyline", { class: "drawn", points: this._drawing.map((p) => p.join(",")).join(" ") }, layer);
    }
    const zone = this._selectedZone();
    if (zone) {
      zone.polygon.forEach(([x, y], index) => {
        const handle = el("circle", {
          class: `vertex${this._selected.corner === index ? " selected" : ""}`,
          cx: x, cy: y, r: 0.18, "data-vertex": index,
        }, layer);
        handle.addEventListener("pointerdown", (e) => this._dragCorner(e, handle, zone, index));
      });
    }
  }

  _select(selection) {
    this._selected = selection;
    if (!selection?.tag) this._map.selectedTag = null;
    this._draw();
  }

  _selectedZone() {
    const id = this._selected?.zone;
    return id ? this._feed.site.zones.find((z) => z.id === id) : null;
  }

  _tagSelected(tagId) {
    if (tagId) this.shadowRoot.getElementById("tag-list").value = tagId;
    this._selected = tagId ? { tag: tagId } : null;
    this._showSide();
    this._showDetails();
  }

  _showDetails() {
    const tag = this._map && this._map.selectedTag && this._feed.tags.get(this._map.selectedTag);
    this.shadowRoot.getElementById("details").textContent = describeTag(this._feed, tag);
  }

  // The side form of what is selected: a receiver, a zone or a tag (administrators only).
  _showSide() {
    const side = this.shadowRoot.getElementById("side");
    const site = this._feed.site;
    const selected = this._admin ? this._selected : null;
    const receiver = selected?.receiver && site.receivers.find((r) => r.id === selected.receiver);
    const zone = this._selectedZone();
    const tag = selected?.tag && site.tags.find((t) => t.id === selected.tag);
    if (receiver) this._receiverForm(side, receiver);
    else if (zone && selected) this._zoneForm(side, zone);
    else if (tag) this._tagForm(side, tag);
    else side.replaceChildren();
  }

  _receiverForm(side, receiver) {
    const online = this._feed.health.get(receiver.id);
    const health = online === false ? "silent: not heard lately" : online ? "online" : "health not known yet";
    side.innerHTML = `<h2>${escape(receiver.name || receiver.id)}</h2>
      <span>${escape(receiver.id)} · ${health}</span>
      <label>Name <input id="receiver-name"></label>
      <label>Height above the floor, m <input id="receiver-z" type="number" step="0.1"></label>
      <label>Floor <input id="receiver-floor" type="number" step="1"></label>
      <label>RSSI correction, dB <input id="receiver-offset" type="number" step="0.5"></label>
      <p id="side-error" class="error" role="alert"></p>
      <div class="buttons"><button id="receiver-save" type="button">Save</button>
      <button id="receiver-remove" type="button">Remove from the plan</button></div>`;
    const root = this.shadowRoot;
    root.getElementById("receiver-name").value = receiver.name || receiver.id;
    root.getElementById("receiver-z").value = receiver.z ?? 2;
    root.getElementById("receiver-floor").value = receiver.floor || 0;
    root.getElementById("receiver-offset").value = receiver.rssi_offset || 0;
    root.getElementById("receiver-save").addEventListener("click", async () => {
      const site = this._edited();
      const number = (id) => {
        const text = root.getElementById(id).value.trim();
        return text === "" ? NaN : Number(text);
      };
      Object.assign(site.receivers.find((r) => r.id === receiver.id), {
        name: root.getElementById("receiver-name").value.trim() || receiver.id,
        z: number("receiver-z"),
        floor: number("receiver-floor"),
        rssi_offset: number("receiver-offset"),
      });
      const floor = site.receivers.find((r) => r.id === receiver.id).floor;
      if (await this._change(site, "side-error") && floor !== this._floor) {
        this._floor = floor; // follow it to its floor
        this._listFloors();
        this._draw();
      }
    });
    root.getElementById("receiver-remove").addEventListener("click", () => {
      const site = this._edited();
      site.receivers = site.receivers.filter((r) => r.id !== receiver.id);
      this._selected = null;
      this._change(site);
    });
  }

  _zoneForm(side, zone) {
    const areas = Object.values(this._hass.areas || {}).sort((a, b) => a.name.localeCompare(b.name));
    side.innerHTML = `<h2>Zone ${escape(zone.name)}</h2>
      <label>Name <input id="zone-edit-name"></label>
      <label class="check"><input id="zone-walls" type="checkbox"> Walls along its edges (a room)</label>
      <label>Home Assistant area <select id="zone-area"><option value="">None</option></select></label>
      <span>Drag a corner to move it (it snaps to other zones); click one to pick it.</span>
      <p id="side-error" class="error" role="alert"></p>
      <div class="buttons"><button id="zone-save" type="button">Save</button>
      <button id="corner-delete" type="button">Delete the picked corner</button>
      <button id="zone-delete" type="button">Delete the zone</button></div>`;
    const root = this.shadowRoot;
    root.getElementById("zone-edit-name").value = zone.name;
    root.getElementById("zone-walls").checked = Boolean(zone.walls);
    const select = root.getElementById("zone-area");
    select.append(...areas.map((a) => option(a.area_id, a.name, a.area_id === zone.area_id)));
    root.getElementById("corner-delete").disabled = this._selected.corner === undefined;
    const edit = (change) => {
      const site = this._edited();
      change(site.zones.find((z) => z.id === zone.id), site);
      return this._change(site, "side-error");
    };
    root.getElementById("zone-save").addEventListener("click", () => edit((z) => {
      z.name = root.getElementById("zone-edit-name").value.trim();
      z.walls = root.getElementById("zone-walls").checked;
      if (select.value) z.area_id = select.value;
      else delete z.area_id;
    }));
    root.getElementById("corner-delete").addEventListener("click", () => {
      const corner = this._selected.corner;
      this._selected = { zone: zone.id };
      edit((z) => z.polygon.splice(corner, 1));
    });
    root.getElementById("zone-delete").addEventListener("click", () => {
      this._selected = null;
      edit((_z, site) => { site.zones = site.zones.filter((z) => z.id !== zone.id); });
    });
  }

  _tagForm(side, tag) {
    side.innerHTML = `<h2>Tag ${escape(tag.name || tag.id)}</h2>
      <label>Name <input id="tag-rename"></label>
      <label>Moves like <select id="tag-motion-edit">
        <option value="asset">an asset (mostly still)</option>
        <option value="person">a person</option><option value="vehicle">a vehicle</option>
      </select></label>
      <p id="side-error" class="error" role="alert"></p>
      <div class="buttons"><button id="tag-save" type="button">Save</button></div>`;
    const root = this.shadowRoot;
    root.getElementById("tag-rename").value = tag.name || tag.id;
    root.getElementById("tag-motion-edit").value = tag.motion || "person";
    root.getElementById("tag-save").addEventListener("click", () => {
      const site = this._edited();
      Object.assign(site.tags.find((t) => t.id === tag.id), {
        name: root.getElementById("tag-rename").value.trim(),
        motion: root.getElementById("tag-motion-edit").value,
      });
      this._change(site, "side-error");
    });
  }

  _addTag() {
    const root = this.shadowRoot;
    const name = root.getElementById("tag-name").value.trim();
    const identity = root.getElementById("tag-address").value.trim();
    if (!name || !identity) {
      this._say("A tag needs a name and its MAC address or iBeacon id");
      return;
    }
    const kind = /^[0-9a-f]{8}-/i.test(identity) ? "ibeacon" : "address";
    const site = this._edited();
    site.tags.push({
      id: slug(name), name, [kind]: identity, motion: root.getElementById("tag-motion").value,
    });
    this._change(site);
  }

  _removeTag() {
    const id = this.shadowRoot.getElementById("tag-list").value;
    const site = this._edited();
    site.tags = site.tags.filter((tag) => tag.id !== id);
    if (this._selected?.tag === id) this._selected = null;
    this._change(site);
  }

  // A press on a receiver: a drag moves it, a click picks it for the side form.
  _dragReceiver(event, dot) {
    this._drag(event, dot, (at) => {
      dot.setAttribute("cx", at[0]);
      dot.setAttribute("cy", at[1]);
    }, (at) => {
      const site = this._edited();
      Object.assign(site.receivers.find((r) => r.id === dot.dataset.receiver), { x: at[0], y: at[1] });
      this._selected = { receiver: dot.dataset.receiver };
      this._change(site);
    }, () => this._select({ receiver: dot.dataset.receiver }));
  }

  _dragCorner(event, handle, zone, index) {
    const others = this._feed.site.zones.filter((z) => z.id !== zone.id && onFloor(z, this._floor));
    const shape = this._svg.querySelector(`[data-zone="${CSS.escape(zone.id)}"]`);
    const polygon = zone.polygon.map((p) => p.slice());
    this._drag(event, handle, (at) => {
      polygon[index] = snapped(at, others, this._map.metres(SNAP_PX));
      handle.setAttribute("cx", polygon[index][0]);
      handle.setAttribute("cy", polygon[index][1]);
      if (shape) shape.setAttribute("points", polygon.map((p) => p.join(",")).join(" "));
    }, () => {
      const site = this._edited();
      site.zones.find((z) => z.id === zone.id).polygon = polygon;
      this._change(site, "side-error");
    }, () => this._select({ zone: zone.id, corner: index }));
  }

  _drag(event, target, moved, dropped, clicked) {
    event.preventDefault();
    event.stopPropagation();
    target.setPointerCapture(event.pointerId);
    const start = [event.clientX, event.clientY];
    let dragging = false;
    this._dragging = true;
    const move = (e) => {
      dragging = dragging || Math.hypot(e.clientX - start[0], e.clientY - start[1]) > CLICK_PX;
      if (dragging) moved(this._map.point(e));
    };
    const drop = (e) => {
      target.removeEventListener("pointermove", move);
      target.removeEventListener("pointerup", drop);
      this._dragging = false;
      if (dragging) {
        moved(this._map.point(e));
        dropped(this._map.point(e));
      } else {
        clicked();
      }
    };
    target.addEventListener("pointermove", move);
    target.addEventListener("pointerup", drop);
  }

  _beginZone() {
    this._drawing = [];
    this._selected = null;
    const root = this.shadowRoot;
    root.getElementById("zone-name").hidden = false;
    root.getElementById("finish").hidden = false;
    this._status("Click the zone's corners (they snap to other zones), then name it");
    this._draw();
  }

  _finishZone() {
    const root = this.shadowRoot;
    const name = root.getElementById("zone-name").value.trim();
    if (!name) {
      this._say("A zone needs a name");
      return;
    }
    const site = this._edited();
    site.zones.push({ id: slug(name), name, floor: this._floor, polygon: this._drawing, walls: true });
    this._drawing = null;
    root.getElementById("zone-name").hidden = true;
    root.getElementById("finish").hidden = true;
    this._change(site);
  }

  async _upload(input) {
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    this._say("");
    const response = await this._hass.fetchWithAuth(
      `/api/ble_rtls/${this._feed.entryId}/plans/${this._floor}`,
      { method: "PUT", body: file, headers: { "Content-Type": file.type } },
    );
    const answer = await response.json();
    if (!response.ok) {
      this._say(answer.message || `The plan was refused (${response.status})`);
      return;
    }
    // Scale and origin are set on the image itself, one image pixel to one unit.
    this._planSetup = { ...answer, url: URL.createObjectURL(file), points: [] };
    this._feed.setPlanImage(this._floor, {
      source: this._planSetup.url, width: answer.width, height: answer.height,
    });
    const root = this.shadowRoot;
    root.getElementById("distance").hidden = false;
    root.getElementById("plan-save").hidden = false;
    this._status("Click two points a known distance apart, then where x = y = 0; enter the distance");
    this._draw();
  }

  _drawPlanSetup() {
    const setup = this._planSetup;
    const svg = this._svg;
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${setup.width} ${setup.height}`);
    svg.style.aspectRatio = `${setup.width} / ${setup.height}`;
    el("image", { href: setup.url, width: setup.width, height: setup.height }, svg);
    const size = Math.max(setup.width, setup.height) / 150;
    setup.points.forEach(([x, y], index) => {
      el("circle", { cx: x, cy: y, r: size, class: index < 2 ? "receiver" : "tag", "data-point": index }, svg);
    });
    if (setup.points.length >= 2) {
      const [[ax, ay], [bx, by]] = setup.points;
      el("line", { x1: ax, y1: ay, x2: bx, y2: by, stroke: "#6a1b9a", "stroke-width": size / 3 }, svg);
    }
  }

  async _savePlan() {
    const setup = this._planSetup;
    const distance = Number(this.shadowRoot.getElementById("distance").value);
    if (setup.points.length < 3 || !(distance > 0)) {
      this._say("Click two points, then the origin, and enter the distance between the two");
      return;
    }
    const [[ax, ay], [bx, by], origin] = setup.points;
    const pixels = Math.hypot(bx - ax, by - ay);
    if (!pixels) {
      this._say("The two points are the same");
      return;
    }
    const plan = {
      floor: this._floor,
      file: setup.file,
      metres_per_pixel: Math.round((distance / pixels) * 1e6) / 1e6,
      origin,
    };
    const site = this._edited();
    site.plans = (site.plans || []).filter((p) => p.floor !== this._floor).concat([plan]);
    this._planSetup = null;
    const root = this.shadowRoot;
    root.getElementById("distance").hidden = true;
    root.getElementById("plan-save").hidden = true;
    await this._change(site);
  }

  async _survey(tagId, [x, y]) {
    const tag = this._feed.tags.get(tagId);
    if (!tag || !tag.device_id) {
      this._say("That tag has no device yet");
      return;
    }
    try {
      const answer = await this._hass.callWS({
        type: "call_service", domain: "ble_rtls", service: "add_survey_point",
        service_data: { device_id: tag.device_id, x, y, floor: this._floor },
        return_response: true,
      });
      this._status(`Survey point taken (${answer.response.survey_points} on the site)`);
      this._show(await this._hass.callWS({ type: "ble_rtls/site/get", entry_id: this._feed.entryId }));
    } catch (err) {
      this._say(err.message || String(err));
    }
  }

  _place(scanner, [x, y]) {
    const site = this._edited();
    site.receivers.push({
      id: scanner.source, name: scanner.name, x, y, z: 2.0, floor: this._floor, rssi_offset: 0.0,
    });
    this._selected = { receiver: scanner.source };
    this.shadowRoot.getElementById("place").value = "";
    this._change(site);
  }

  // A click on the map as the step of whatever is under way (plan points in image pixels).
  _step(event) {
    if (event.target.dataset.receiver || event.target.dataset.vertex) return;
    const mode = this._mode;
    const at = this._map.point(event);
    if (mode?.survey) {
      this._survey(mode.survey, at);
    } else if (mode?.place) {
      this._place(mode.place, at);
    } else if (this._planSetup) {
      if (this._planSetup.points.length < 3) this._planSetup.points.push(at);
      this._draw();
    } else if (this._drawing) {
      const others = this._feed.site.zones.filter((z) => onFloor(z, this._floor));
      this._drawing.push(snapped(at, others, this._map.metres(SNAP_PX)));
      this._draw();
    } else {
      return;
    }
    this._mode = null;
    event.stopPropagation();
  }

  _unselect() {
    if (!this._selected && !this._map.selectedTag) return;
    this._map.selectedTag = null;
    this._select(null);
  }
}

customElements.define("ble-rtls-panel", BleRtlsPanel);
