// BLE RTLS panel: a site on its floor plan. Receivers are dragged to where they hang, zones
// drawn by clicking their corners, tags followed live. Every change goes through the site's
// websocket commands, which check it as the options flow does; a refused one shows its
// message and the stored site is drawn again. Loads nothing from the internet.

const SVG = "http://www.w3.org/2000/svg";
const STYLE = `
  :host { display: block; height: 100%; background: var(--primary-background-color);
          color: var(--primary-text-color); font-family: var(--paper-font-body1_-_font-family, sans-serif); }
  header { display: flex; gap: 8px; align-items: center; padding: 8px 16px; flex-wrap: wrap; }
  header h1 { font-size: 20px; margin: 0 16px 0 0; font-weight: 400; }
  #error { color: var(--error-color, #db4437); margin: 0 16px; min-height: 1.2em; }
  #tags { margin: 0 16px 8px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  svg { width: calc(100% - 32px); height: calc(100% - 160px); margin: 0 16px;
        background: var(--card-background-color, #fff); touch-action: none; }
  .zone { fill: rgba(3, 169, 244, 0.08); stroke: #0288d1; stroke-width: 0.06; }
  .drawn { fill: rgba(255, 152, 0, 0.15); stroke: #ef6c00; stroke-width: 0.08; }
  .receiver { fill: #6a1b9a; stroke: #fff; stroke-width: 0.06; }
  .receiver.editable { cursor: grab; }
  .receiver.offline { fill: #9e9e9e; }
  .tag { fill: #2e7d32; }
  .accuracy { fill: rgba(46, 125, 50, 0.12); stroke: #2e7d32; stroke-width: 0.03; }
  .tag.missing { fill: #9e9e9e; }
  text { font-size: 0.5px; fill: var(--primary-text-color, #212121); }
  .grid { stroke: rgba(0, 0, 0, 0.08); stroke-width: 0.02; }
  .survey { fill: #ef6c00; }
`;

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function slug(name) {
  return name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
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
    if (this._unsubscribe) this._unsubscribe();
    this._unsubscribe = null;
  }

  async _start() {
    this._planImages = new Map();
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style>
      <header>
        <h1>BLE RTLS</h1>
        <label>Site <select id="site"></select></label>
        <label>Floor <select id="floor"></select></label>
        <button id="draw" type="button">Draw a zone</button>
        <input id="zone-name" placeholder="Zone name" hidden>
        <button id="finish" type="button" hidden>Save zone</button>
        <label id="plan-label">Plan <input id="plan-file" type="file"
          accept="image/png,image/jpeg,image/svg+xml"></label>
        <input id="distance" type="number" min="0" step="any" placeholder="Metres between them"
          hidden>
        <button id="plan-save" type="button" hidden>Save plan</button>
        <button id="undo" type="button" disabled>Undo</button>
        <span id="status" role="status"></span>
      </header>
      <p id="error" role="alert"></p>
      <div id="tags">
        <label>Tags <select id="tag-list"></select></label>
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
      </div>
      <svg id="map"></svg>`;
    this._map = root.getElementById("map");
    this._admin = Boolean(this._hass.user && this._hass.user.is_admin);
    for (const id of ["draw", "undo", "plan-label"]) root.getElementById(id).hidden = !this._admin;
    root.getElementById("tags").hidden = !this._admin;
    root.getElementById("tag-add").addEventListener("click", () => this._addTag());
    root.getElementById("tag-remove").addEventListener("click", () => this._removeTag());
    root.getElementById("survey").addEventListener("click", () => {
      this._surveying = root.getElementById("tag-list").value;
      root.getElementById("status").textContent = "Click where the tag stands";
    });
    root.getElementById("nearby").addEventListener("change", (e) => {
      const device = this._nearby[Number(e.target.value)];
      if (!device) return;
      root.getElementById("tag-address").value = device.identity;
      root.getElementById("tag-name").value = device.name;
    });
    root.getElementById("plan-file").addEventListener("change", (e) => this._upload(e.target));
    root.getElementById("plan-save").addEventListener("click", () => this._savePlan());
    root.getElementById("draw").addEventListener("click", () => this._beginZone());
    root.getElementById("finish").addEventListener("click", () => this._finishZone());
    root.getElementById("undo").addEventListener("click", () => this._undo());
    root.getElementById("site").addEventListener("change", (e) => this._load(e.target.value));
    root.getElementById("floor").addEventListener("change", (e) => {
      this._floor = Number(e.target.value);
      this._draw();
    });
    this._map.addEventListener("click", (e) => this._corner(e));
    const entries = await this._hass.callWS({ type: "config_entries/get", domain: "ble_rtls" });
    const select = root.getElementById("site");
    for (const entry of entries) {
      const option = document.createElement("option");
      option.value = entry.entry_id;
      option.textContent = entry.title;
      select.appendChild(option);
    }
    if (entries.length) await this._load(entries[0].entry_id);
    else this._say("No BLE RTLS site yet: add one under Settings > Devices & services.");
  }

  _say(message) {
    this.shadowRoot.getElementById("error").textContent = message || "";
  }

  async _load(entryId) {
    this._entry = entryId;
    this._tags = new Map();
    const answer = await this._hass.callWS({ type: "ble_rtls/site/get", entry_id: entryId });
    this._show(answer);
    if (this._unsubscribe) this._unsubscribe();
    this._unsubscribe = await this._hass.connection.subscribeMessage(
      (event) => this._followTags(event.tags),
      { type: "ble_rtls/site/subscribe_tags", entry_id: entryId },
    );
  }

  _show(answer) {
    this._site = answer.site;
    const floors = [...new Set([
      ...this._site.receivers.map((r) => r.floor || 0),
      ...this._site.zones.map((z) => z.floor || 0),
    ])].sort((a, b) => a - b);
    if (!floors.length) floors.push(0);
    if (!floors.includes(this._floor)) this._floor = floors[0];
    const select = this.shadowRoot.getElementById("floor");
    select.replaceChildren(...floors.map((floor) => {
      const option = document.createElement("option");
      option.value = String(floor);
      option.textContent = String(floor);
      option.selected = floor === this._floor;
      return option;
    }));
    this.shadowRoot.getElementById("undo").disabled = !answer.can_undo;
    this.shadowRoot.getElementById("tag-list").replaceChildren(...this._site.tags.map((tag) => {
      const option = document.createElement("option");
      option.value = tag.id;
      option.textContent = `${tag.name || tag.id} (${tag.motion || "asset"})`;
      return option;
    }));
    if (this._admin) this._listNearby();
    this._draw();
  }

  async _listNearby() {
    const answer = await this._hass.callWS({ type: "ble_rtls/site/nearby", entry_id: this._entry });
    this._nearby = answer.devices;
    const select = this.shadowRoot.getElementById("nearby");
    select.replaceChildren(select.options[0], ...answer.devices.map((device, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = `${device.name || device.address} · ${device.rssi} dBm`;
      return option;
    }));
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
    const site = structuredClone(this._site);
    site.tags.push({
      id: slug(name), name, [kind]: identity, motion: root.getElementById("tag-motion").value,
    });
    this._change(site);
  }

  _removeTag() {
    const id = this.shadowRoot.getElementById("tag-list").value;
    const site = structuredClone(this._site);
    site.tags = site.tags.filter((tag) => tag.id !== id);
    this._change(site);
  }

  async _change(site) {
    this._say("");
    try {
      const answer = await this._hass.callWS({
        type: "ble_rtls/site/update", entry_id: this._entry, site,
      });
      this.shadowRoot.getElementById("status").textContent = "Saved";
      this._show(answer);
    } catch (err) {
      this._say(err.message || String(err));
      this._draw(); // the stored site, as it was
    }
  }

  async _undo() {
    try {
      this._show(await this._hass.callWS({ type: "ble_rtls/site/undo", entry_id: this._entry }));
    } catch (err) {
      this._say(err.message || String(err));
    }
  }

  _bounds() {
    const points = [];
    for (const zone of this._site.zones) {
      if ((zone.floor || 0) === this._floor) points.push(...zone.polygon);
    }
    for (const r of this._site.receivers) {
      if ((r.floor || 0) === this._floor) points.push([r.x, r.y]);
    }
    if (!points.length) return [0, 0, 10, 10];
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    return [Math.min(...xs) - 1, Math.min(...ys) - 1, Math.max(...xs) + 1, Math.max(...ys) + 1];
  }

  _draw() {
    const map = this._map;
    map.replaceChildren();
    if (this._planSetup) {
      this._drawPlanSetup(map);
      return;
    }
    const [x0, y0, x1, y1] = this._bounds();
    map.setAttribute("viewBox", `${x0} ${y0} ${x1 - x0} ${y1 - y0}`);
    // y grows down the screen as it does on a plan image.
    const grid = el("g", {}, map);
    for (let x = Math.ceil(x0); x <= x1; x += 1) el("line", { class: "grid", x1: x, y1: y0, x2: x, y2: y1 }, grid);
    for (let y = Math.ceil(y0); y <= y1; y += 1) el("line", { class: "grid", x1: x0, y1: y, x2: x1, y2: y }, grid);
    this._drawPlan(map);
    for (const zone of this._site.zones) {
      if ((zone.floor || 0) !== this._floor) continue;
      el("polygon", { class: "zone", points: zone.polygon.map((p) => p.join(",")).join(" "), "data-zone": zone.id }, map);
      const [cx, cy] = zone.polygon.reduce((a, p) => [a[0] + p[0], a[1] + p[1]], [0, 0]);
      el("text", { x: cx / zone.polygon.length, y: cy / zone.polygon.length, "text-anchor": "middle" }, map)
        .textContent = zone.name;
    }
    if (this._drawing) {
      el("polyline", { class: "drawn", points: this._drawing.map((p) => p.join(",")).join(" ") }, map);
    }
    for (const receiver of this._site.receivers) {
      if ((receiver.floor || 0) !== this._floor) continue;
      const dot = el("circle", {
        class: `receiver${this._admin ? " editable" : ""}`,
        cx: receiver.x, cy: receiver.y, r: 0.3, "data-receiver": receiver.id,
      }, map);
      el("title", {}, dot).textContent = receiver.name || receiver.id;
      if (this._admin) dot.addEventListener("pointerdown", (e) => this._drag(e, receiver, dot));
    }
    (this._site.survey || []).forEach((point, index) => {
      if ((point.floor || 0) !== this._floor) return;
      el("rect", {
        class: "survey", x: point.x - 0.15, y: point.y - 0.15, width: 0.3, height: 0.3,
        "data-survey": index,
      }, map);
    });
    this._tagLayer = el("g", {}, map);
    this._drawTags();
  }

  _drawPlan(map) {
    const plan = (this._site.plans || []).find((p) => p.floor === this._floor);
    if (!plan) return;
    const image = el("image", { "data-plan": plan.file, preserveAspectRatio: "none" }, map);
    this._planImage(plan.floor)
      .then(({ source, width, height }) => {
        const scale = plan.metres_per_pixel;
        image.setAttribute("x", -plan.origin[0] * scale);
        image.setAttribute("y", -plan.origin[1] * scale);
        image.setAttribute("width", width * scale);
        image.setAttribute("height", height * scale);
        image.setAttribute("href", source);
      })
      .catch(() => this._say(`The plan of floor ${plan.floor} could not be loaded`));
  }

  // Each floor's plan is fetched once (the map is drawn again on every change and click).
  _planImage(floor) {
    const key = `${this._entry}/${floor}`;
    if (!this._planImages.has(key)) {
      const url = `/api/ble_rtls/${this._entry}/plans/${floor}`;
      const headers = { Authorization: `Bearer ${this._hass.auth.data.access_token}` };
      const loaded = fetch(url, { headers })
        .then((response) => (response.ok ? response.blob() : Promise.reject(response.status)))
        .then((blob) => this._sized(URL.createObjectURL(blob)));
      loaded.catch(() => this._planImages.delete(key)); // asked again at the next draw
      this._planImages.set(key, loaded);
    }
    return this._planImages.get(key);
  }

  _sized(source) {
    return new Promise((resolve, reject) => {
      const probe = new Image();
      probe.onload = () => resolve({ source, width: probe.naturalWidth, height: probe.naturalHeight });
      probe.onerror = reject;
      probe.src = source;
    });
  }

  _followTags(tags) {
    for (const tag of tags) this._tags.set(tag.id, tag);
    this._drawTags();
  }

  _drawTags() {
    if (!this._tagLayer || !this._tags) return;
    this._tagLayer.replaceChildren();
    for (const tag of this._tags.values()) {
      const p = tag.position;
      if (!p || p.floor !== this._floor) continue;
      el("circle", { class: "accuracy", cx: p.x, cy: p.y, r: p.accuracy }, this._tagLayer);
      const dot = el("circle", {
        class: `tag${tag.missing ? " missing" : ""}`, cx: p.x, cy: p.y, r: 0.25, "data-tag": tag.id,
      }, this._tagLayer);
      el("title", {}, dot).textContent = `${tag.name}: ${tag.zone || "no zone"}, ±${p.accuracy} m`;
      el("text", { x: p.x + 0.35, y: p.y }, this._tagLayer).textContent = tag.name;
    }
  }

  _point(event) {
    const matrix = this._map.getScreenCTM().inverse();
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix);
    return [Math.round(at.x * 100) / 100, Math.round(at.y * 100) / 100];
  }

  _drag(event, receiver, dot) {
    event.preventDefault();
    event.stopPropagation();
    dot.setPointerCapture(event.pointerId);
    const move = (e) => {
      const [x, y] = this._point(e);
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
    };
    const drop = (e) => {
      dot.removeEventListener("pointermove", move);
      dot.removeEventListener("pointerup", drop);
      const [x, y] = this._point(e);
      const site = structuredClone(this._site);
      Object.assign(site.receivers.find((r) => r.id === receiver.id), { x, y });
      this._change(site);
    };
    dot.addEventListener("pointermove", move);
    dot.addEventListener("pointerup", drop);
  }

  _beginZone() {
    this._drawing = [];
    const root = this.shadowRoot;
    root.getElementById("zone-name").hidden = false;
    root.getElementById("finish").hidden = false;
    root.getElementById("status").textContent = "Click the zone's corners, then name it";
  }

  async _upload(input) {
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    this._say("");
    const response = await fetch(`/api/ble_rtls/${this._entry}/plans/${this._floor}`, {
      method: "PUT",
      body: file,
      headers: {
        "Content-Type": file.type,
        Authorization: `Bearer ${this._hass.auth.data.access_token}`,
      },
    });
    const answer = await response.json();
    if (!response.ok) {
      this._say(answer.message || `The plan was refused (${response.status})`);
      return;
    }
    // Scale and origin are set on the image itself, one image pixel to one unit.
    this._planSetup = { ...answer, url: URL.createObjectURL(file), points: [] };
    this._planImages.set(
      `${this._entry}/${this._floor}`,
      Promise.resolve({ source: this._planSetup.url, width: answer.width, height: answer.height }),
    );
    const root = this.shadowRoot;
    root.getElementById("distance").hidden = false;
    root.getElementById("plan-save").hidden = false;
    root.getElementById("status").textContent =
      "Click two points a known distance apart, then where x = y = 0; enter the distance";
    this._draw();
  }

  _drawPlanSetup(map) {
    const setup = this._planSetup;
    map.setAttribute("viewBox", `0 0 ${setup.width} ${setup.height}`);
    el("image", { href: setup.url, width: setup.width, height: setup.height }, map);
    const size = Math.max(setup.width, setup.height) / 150;
    setup.points.forEach(([x, y], index) => {
      el("circle", { cx: x, cy: y, r: size, class: index < 2 ? "receiver" : "tag", "data-point": index }, map);
    });
    if (setup.points.length >= 2) {
      const [[ax, ay], [bx, by]] = setup.points;
      el("line", { x1: ax, y1: ay, x2: bx, y2: by, stroke: "#6a1b9a", "stroke-width": size / 3 }, map);
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
    const site = structuredClone(this._site);
    site.plans = (site.plans || []).filter((p) => p.floor !== this._floor).concat([plan]);
    this._planSetup = null;
    const root = this.shadowRoot;
    root.getElementById("distance").hidden = true;
    root.getElementById("plan-save").hidden = true;
    await this._change(site);
  }

  async _survey(tagId, [x, y]) {
    this._surveying = null;
    const tag = this._tags.get(tagId);
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
      const point = answer.response;
      this.shadowRoot.getElementById("status").textContent =
        `Survey point taken (${point.survey_points} on the site)`;
      this._show(await this._hass.callWS({ type: "ble_rtls/site/get", entry_id: this._entry }));
    } catch (err) {
      this._say(err.message || String(err));
    }
  }

  _corner(event) {
    if (this._surveying) {
      this._survey(this._surveying, this._point(event));
      return;
    }
    if (this._planSetup) {
      if (this._planSetup.points.length < 3) this._planSetup.points.push(this._point(event));
      this._draw();
      return;
    }
    if (!this._drawing || event.target.dataset.receiver) return;
    this._drawing.push(this._point(event));
    this._draw();
  }

  _finishZone() {
    const root = this.shadowRoot;
    const name = root.getElementById("zone-name").value.trim();
    if (!name) {
      this._say("A zone needs a name");
      return;
    }
    const site = structuredClone(this._site);
    site.zones.push({ id: slug(name), name, floor: this._floor, polygon: this._drawing, walls: true });
    this._drawing = null;
    root.getElementById("zone-name").hidden = true;
    root.getElementById("finish").hidden = true;
    this._change(site);
  }
}

customElements.define("ble-rtls-panel", BleRtlsPanel);
