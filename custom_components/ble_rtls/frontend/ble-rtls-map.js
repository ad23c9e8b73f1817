// The live map of one floor of a site, shared by the sidebar panel and the dashboard card:
// the plan (or a metre grid), zones with their occupancy, receivers (silent ones grey),
// survey points and tags that glide from fix to fix with their accuracy circle. A click on a
// tag shows its details and recent trail. Loads nothing from the internet.

const SVG = "http://www.w3.org/2000/svg";
// How many positions a selected tag's trail keeps, and how long a move glides (a fix a second).
const TRAIL_POINTS = 120;
const GLIDE_S = 0.9;
// How often the receivers' health is asked again.
const HEALTH_EVERY_MS = 30000;

export const MAP_STYLE = `
  svg.map { display: block; width: 100%; background: var(--card-background-color, #fff);
            touch-action: none; user-select: none; }
  .zone { fill: rgba(3, 169, 244, 0.08); stroke: #0288d1; stroke-width: 0.06; }
  .zone.open { stroke-dasharray: 0.3 0.2; }
  .zone.selected { fill: rgba(3, 169, 244, 0.2); stroke-width: 0.12; }
  .zone-label { font-size: 0.5px; fill: #01579b; }
  .drawn { fill: rgba(255, 152, 0, 0.15); stroke: #ef6c00; stroke-width: 0.08; }
  .vertex { fill: #fff; stroke: #ef6c00; stroke-width: 0.06; cursor: move; }
  .vertex.selected { fill: #ef6c00; }
  .receiver { fill: #6a1b9a; stroke: #fff; stroke-width: 0.06; }
  .receiver.editable { cursor: grab; }
  .receiver.silent { fill: #9e9e9e; }
  .receiver.selected { stroke: #ef6c00; stroke-width: 0.12; }
  .tag-at { transition: transform ${GLIDE_S}s linear; cursor: pointer; }
  .tag { fill: #2e7d32; stroke: #fff; stroke-width: 0.05; }
  .tag-at.missing .tag { fill: #9e9e9e; }
  .tag-at.selected .tag { fill: #ef6c00; }
  .accuracy { fill: rgba(46, 125, 50, 0.1); stroke: #2e7d32; stroke-width: 0.03; }
  .trail { fill: none; stroke: #ef6c00; stroke-width: 0.08; stroke-linejoin: round; opacity: 0.7; }
  text { font-size: 0.45px; fill: var(--primary-text-color, #212121); }
  .grid { stroke: rgba(0, 0, 0, 0.08); stroke-width: 0.02; }
  .survey { fill: #ef6c00; }
  .legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; margin: 4px 0;
            color: var(--secondary-text-color, #616161); }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
              margin-right: 4px; vertical-align: -1px; }
  .details { font-size: 14px; min-height: 1.4em; margin: 4px 0; }
`;

export const LEGEND = `<div class="legend">
  <span><i style="background:#2e7d32"></i>tag (circle: its accuracy)</span>
  <span><i style="background:#9e9e9e"></i>not heard lately</span>
  <span><i style="background:#6a1b9a"></i>receiver</span>
  <span><i style="background:#ef6c00;border-radius:0"></i>survey point</span>
  <span><i style="background:rgba(3,169,244,0.3);border-radius:0"></i>zone (tags in it)</span>
</div>`;

export function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

export function onFloor(item, floor) {
  return (item.floor || 0) === floor;
}

// The floors a site has anything on, lowest first (floor 0 for an empty site).
export function floorsOf(site) {
  const floors = new Set([
    ...site.receivers.map((r) => r.floor || 0),
    ...site.zones.map((z) => z.floor || 0),
    ...(site.plans || []).map((p) => p.floor),
  ]);
  if (!floors.size) floors.add(0);
  return [...floors].sort((a, b) => a - b);
}

function centroid(polygon) {
  const [x, y] = polygon.reduce((a, p) => [a[0] + p[0], a[1] + p[1]], [0, 0]);
  return [x / polygon.length, y / polygon.length];
}

// A site's data as the browser sees it: the stored site, its tags live, its receivers'
// health and its plan images. One per site and page; the maps of its floors draw from it.
export class SiteFeed {
  constructor(hass, entryId) {
    this.hass = hass;
    this.entryId = entryId;
    this.site = null;
    this.tags = new Map();
    this.trails = new Map();
    this.health = new Map();
    this.listeners = new Set();
    this._plans = new Map();
  }

  async start() {
    const answer = await this.hass.callWS({ type: "ble_rtls/site/get", entry_id: this.entryId });
    this.setSite(answer.site);
    this._unsubscribe = await this.hass.connection.subscribeMessage(
      (event) => (event.site_changed ? this._reread() : this._follow(event.tags)),
      { type: "ble_rtls/site/subscribe_tags", entry_id: this.entryId },
    );
    await this.refreshHealth();
    this._timer = setInterval(() => this.refreshHealth().catch(() => {}), HEALTH_EVERY_MS);
    return answer;
  }

  stop() {
    if (this._unsubscribe) this._unsubscribe();
    this._unsubscribe = null;
    clearInterval(this._timer);
  }

  // "reloaded" when the site changed and reloaded, "site" when a page set it.
  setSite(site, what = "site") {
    this.site = site;
    this._changed(what);
  }

  // The site changed (here or anywhere else) and reloaded: read it again, forget its old tags.
  async _reread() {
    const answer = await this.hass.callWS({ type: "ble_rtls/site/get", entry_id: this.entryId });
    const kept = new Set(answer.site.tags.map((tag) => tag.id));
    for (const id of [...this.tags.keys()]) {
      if (!kept.has(id)) {
        this.tags.delete(id);
        this.trails.delete(id);
      }
    }
    this._plans.clear(); // a plan may have been replaced
    this.setSite(answer.site, "reloaded");
  }

  async refreshHealth() {
    const answer = await this.hass.callWS({ type: "ble_rtls/site/scanners", entry_id: this.entryId });
    this.scanners = answer.scanners;
    this.health = new Map(answer.scanners.filter((s) => s.placed).map((s) => [s.source, s.online]));
    this._changed("health");
  }

  _follow(tags) {
    for (const tag of tags) {
      const before = this.tags.get(tag.id);
      const p = tag.position;
      let trail = this.trails.get(tag.id) || (tag.trail || []).slice();
      if (before && before.position && p && before.position.floor !== p.floor) trail = [];
      const last = trail[trail.length - 1];
      if (p && (!last || last[0] !== p.x || last[1] !== p.y)) trail.push([p.x, p.y]);
      if (trail.length > TRAIL_POINTS) trail.splice(0, trail.length - TRAIL_POINTS);
      this.trails.set(tag.id, trail);
      this.tags.set(tag.id, tag);
    }
    this._changed("tags");
  }

  _changed(what) {
    for (const listener of this.listeners) listener(what);
  }

  // Each floor's plan is fetched once (maps are drawn again on every change).
  planImage(floor) {
    if (!this._plans.has(floor)) {
      const url = `/api/ble_rtls/${this.entryId}/plans/${floor}`;
      const loaded = this.hass.fetchWithAuth(url)
        .then((response) => (response.ok ? response.blob() : Promise.reject(response.status)))
        .then((blob) => sized(URL.createObjectURL(blob)));
      loaded.catch(() => this._plans.delete(floor)); // asked again at the next draw
      this._plans.set(floor, loaded);
    }
    return this._plans.get(floor);
  }

  setPlanImage(floor, image) {
    this._plans.set(floor, Promise.resolve(image));
  }

  zoneName(zoneId) {
    const zone = this.site && this.site.zones.find((z) => z.id === zoneId);
    return zone ? zone.name : zoneId;
  }
}

function sized(source) {
  return new Promise((resolve, reject) => {
    const probe = new Image();
    probe.onload = () => resolve({ source, width: probe.naturalWidth, height: probe.naturalHeight });
    probe.onerror = reject;
    probe.src = source;
  });
}

// One floor of a site drawn into an <svg>. Layers, bottom up: grid and plan, zones,
// receivers, survey points, tags, the editor's marks (the panel's).
export class FloorMap {
  constructor(svg, feed, floor, { onTag = null, onError = null } = {}) {
    this.svg = svg;
    svg.classList.add("map");
    this.feed = feed;
    this.floor = floor;
    this.onTag = onTag;
    this.onError = onError;
    this.selectedTag = null;
    this._tagMarks = new Map();
  }

  bounds() {
    const site = this.feed.site;
    const points = [];
    for (const zone of site.zones) if (onFloor(zone, this.floor)) points.push(...zone.polygon);
    for (const r of site.receivers) if (onFloor(r, this.floor)) points.push([r.x, r.y]);
    if (!points.length) return [0, 0, 10, 10];
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    return [Math.min(...xs) - 1, Math.min(...ys) - 1, Math.max(...xs) + 1, Math.max(...ys) + 1];
  }

  draw() {
    const svg = this.svg;
    const site = this.feed.site;
    svg.replaceChildren();
    this._tagMarks.clear();
    const [x0, y0, x1, y1] = this.bounds();
    svg.setAttribute("viewBox", `${x0} ${y0} ${x1 - x0} ${y1 - y0}`);
    svg.style.aspectRatio = `${x1 - x0} / ${y1 - y0}`;
    // y grows down the screen as it does on a plan image.
    const grid = el("g", {}, svg);
    for (let x = Math.ceil(x0); x <= x1; x += 1) el("line", { class: "grid", x1: x, y1: y0, x2: x, y2: y1 }, grid);
    for (let y = Math.ceil(y0); y <= y1; y += 1) el("line", { class: "grid", x1: x0, y1: y, x2: x1, y2: y }, grid);
    this._drawPlan(svg);
    this.zoneLayer = el("g", {}, svg);
    for (const zone of site.zones) {
      if (!onFloor(zone, this.floor)) continue;
      el("polygon", {
        class: `zone${zone.walls ? "" : " open"}`,
        points: zone.polygon.map((p) => p.join(",")).join(" "),
        "data-zone": zone.id,
      }, this.zoneLayer);
      const [cx, cy] = centroid(zone.polygon);
      el("text", { class: "zone-label", x: cx, y: cy, "text-anchor": "middle", "data-zone-label": zone.id }, this.zoneLayer);
    }
    for (const receiver of site.receivers) {
      if (!onFloor(receiver, this.floor)) continue;
      const dot = el("circle", {
        class: "receiver", cx: receiver.x, cy: receiver.y, r: 0.3, "data-receiver": receiver.id,
      }, svg);
      el("title", {}, dot);
    }
    this.showHealth();
    (site.survey || []).forEach((point, index) => {
      if (!onFloor(point, this.floor)) return;
      el("rect", {
        class: "survey", x: point.x - 0.15, y: point.y - 0.15, width: 0.3, height: 0.3,
        "data-survey": index,
      }, svg);
    });
    this.trailLayer = el("g", {}, svg);
    this.tagLayer = el("g", {}, svg);
    this.editLayer = el("g", {}, svg); // the panel's corners and drawing, above all
    this.drawTags();
  }

  // Receivers' health is asked every half minute; only their colour changes.
  showHealth() {
    for (const dot of this.svg.querySelectorAll("[data-receiver]")) {
      const silent = this.feed.health.get(dot.dataset.receiver) === false;
      dot.classList.toggle("silent", silent);
      const receiver = this.feed.site.receivers.find((r) => r.id === dot.dataset.receiver);
      dot.querySelector("title").textContent =
        `${receiver ? receiver.name || receiver.id : dot.dataset.receiver}${silent ? " (silent)" : ""}`;
    }
  }

  _drawPlan(svg) {
    const plan = (this.feed.site.plans || []).find((p) => p.floor === this.floor);
    if (!plan) return;
    const image = el("image", { "data-plan": plan.file, preserveAspectRatio: "none" }, svg);
    this.feed.planImage(plan.floor)
      .then(({ source, width, height }) => {
        const scale = plan.metres_per_pixel;
        image.setAttribute("x", -plan.origin[0] * scale);
        image.setAttribute("y", -plan.origin[1] * scale);
        image.setAttribute("width", width * scale);
        image.setAttribute("height", height * scale);
        image.setAttribute("href", source);
      })
      .catch(() => this.onError && this.onError(`The plan of floor ${plan.floor} could not be loaded`));
  }

  // Tags are moved, not drawn again, so that they glide from one fix to the next.
  drawTags() {
    if (!this.tagLayer) return;
    const occupancy = new Map();
    const seen = new Set();
    for (const tag of this.feed.tags.values()) {
      const p = tag.position;
      if (!p || p.floor !== this.floor) continue;
      seen.add(tag.id);
      if (tag.zone) occupancy.set(tag.zone, (occupancy.get(tag.zone) || 0) + 1);
      let mark = this._tagMarks.get(tag.id);
      if (!mark) mark = this._newMark(tag);
      mark.group.style.transform = `translate(${p.x}px, ${p.y}px)`;
      mark.group.dataset.x = p.x;
      mark.group.dataset.y = p.y;
      mark.group.classList.toggle("missing", Boolean(tag.missing));
      mark.group.classList.toggle("selected", tag.id === this.selectedTag);
      mark.accuracy.setAttribute("r", p.accuracy);
      mark.title.textContent =
        `${tag.name}: ${tag.zone ? this.feed.zoneName(tag.zone) : "no zone"}, ±${p.accuracy} m`;
    }
    for (const [id, mark] of this._tagMarks) {
      if (!seen.has(id)) {
        mark.group.remove();
        this._tagMarks.delete(id);
      }
    }
    for (const label of this.svg.querySelectorAll("[data-zone-label]")) {
      const zoneId = label.dataset.zoneLabel;
      const count = occupancy.get(zoneId) || 0;
      label.textContent = `${this.feed.zoneName(zoneId)}${count ? ` (${count})` : ""}`;
    }
    this._drawTrail();
  }

  _newMark(tag) {
    const group = el("g", { class: "tag-at", "data-tag": tag.id }, this.tagLayer);
    const accuracy = el("circle", { class: "accuracy", cx: 0, cy: 0, r: 0 }, group);
    const dot = el("circle", { class: "tag", cx: 0, cy: 0, r: 0.25 }, group);
    const title = el("title", {}, dot);
    el("text", { x: 0.35, y: 0.15 }, group).textContent = tag.name;
    group.addEventListener("click", (event) => {
      event.stopPropagation();
      this.select(tag.id);
    });
    const mark = { group, accuracy, title };
    this._tagMarks.set(tag.id, mark);
    return mark;
  }

  select(tagId) {
    this.selectedTag = tagId;
    this.drawTags();
    if (this.onTag) this.onTag(tagId);
  }

  _drawTrail() {
    this.trailLayer.replaceChildren();
    const trail = this.selectedTag && this.feed.trails.get(this.selectedTag);
    if (!trail || trail.length < 2) return;
    el("polyline", {
      class: "trail", points: trail.map((p) => p.join(",")).join(" "), "data-trail": this.selectedTag,
    }, this.trailLayer);
  }

  // Where a pointer event is, in metres, to the centimetre.
  point(event) {
    const matrix = this.svg.getScreenCTM().inverse();
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix);
    return [Math.round(at.x * 100) / 100, Math.round(at.y * 100) / 100];
  }

  // How many metres a number of screen pixels covers here.
  metres(pixels) {
    return pixels / this.svg.getScreenCTM().a;
  }
}

// What a tag's details line says.
export function describeTag(feed, tag) {
  if (!tag) return "";
  const p = tag.position;
  const zone = tag.zone ? feed.zoneName(tag.zone) : "no zone";
  const where = p ? `x ${p.x} m, y ${p.y} m, floor ${p.floor}, ±${p.accuracy} m` : "not located yet";
  return `${tag.name}: ${zone} · ${where}${tag.missing ? " · not heard lately" : ""}`;
}
