// The BLE RTLS live map as a dashboard card: one floor of a site, or every floor, with tags
// gliding on the plan. The integration loads this script on every dashboard and lists the card
// in the card picker, so there is no resource to add by hand.
//
//   type: custom:ble-rtls-map-card
//   entry_id: ...   # the site (its config entry); the first site when left out
//   floor: 0        # one floor; every floor when left out
//   title: Warehouse

import {
  FloorMap, LEGEND, MAP_STYLE, SiteFeed, describeTag, el, floorsOf,
} from "./ble-rtls-map.js";

const CARD = "ble-rtls-map-card";
const STYLE = `
  ha-card { padding: 8px 16px 12px; }
  h3 { font-size: 14px; font-weight: 500; margin: 8px 0 4px; }
  .error { color: var(--error-color, #db4437); }
`;

function checked(config) {
  if (!config || typeof config !== "object") throw new Error("The card needs a configuration");
  if (config.floor !== undefined && !Number.isInteger(config.floor)) {
    throw new Error("floor: a whole number, or leave it out for every floor");
  }
  if (config.entry_id !== undefined && typeof config.entry_id !== "string") {
    throw new Error("entry_id: the site's config entry id");
  }
  return config;
}

async function sites(hass) {
  return hass.callWS({ type: "config_entries/get", domain: "ble_rtls" });
}

class BleRtlsMapCard extends HTMLElement {
  static getStubConfig() {
    return {};
  }

  static getConfigElement() {
    return document.createElement(`${CARD}-editor`);
  }

  setConfig(config) {
    this._config = checked(config);
    if (this._feed) this._stop();
    this._begin();
  }

  set hass(hass) {
    this._hass = hass;
    this._begin();
  }

  connectedCallback() {
    this._begin();
  }

  disconnectedCallback() {
    this._stop();
  }

  getCardSize() {
    return 8;
  }

  _stop() {
    if (this._feed) this._feed.stop();
    this._feed = null;
  }

  _begin() {
    if (this._feed || !this._hass || !this._config || !this.isConnected) return;
    this._feed = new SiteFeed(this._hass, null);
    this._start(this._feed).catch((err) => this._fail(err.message || String(err)));
  }

  _fail(message) {
    const holder = this.shadowRoot && this.shadowRoot.getElementById("floors");
    if (!holder) return;
    const line = document.createElement("p");
    line.className = "error";
    line.textContent = message;
    holder.replaceChildren(line);
  }

  async _start(feed) {
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${MAP_STYLE}${STYLE}</style>
      <ha-card><h1 class="card-header" id="title"></h1>
        <div id="floors"></div>${LEGEND}<div id="details" class="details"></div></ha-card>`;
    const title = root.getElementById("title");
    title.textContent = this._config.title || "";
    title.hidden = !this._config.title;
    const entries = await sites(this._hass);
    const entry = this._config.entry_id
      ? entries.find((e) => e.entry_id === this._config.entry_id)
      : entries[0];
    if (!entry) throw new Error("No BLE RTLS site: add one under Settings > Devices & services");
    feed.entryId = entry.entry_id;
    this._maps = [];
    feed.listeners.add((what) => {
      if (feed !== this._feed) return;
      if (what === "site" || what === "reloaded") this._drawFloors(feed);
      else if (what === "tags") this._maps.forEach((map) => map.drawTags());
      else this._maps.forEach((map) => map.showHealth());
      this._showDetails();
    });
    await feed.start();
  }

  _drawFloors(feed) {
    const floors = this._config.floor === undefined ? floorsOf(feed.site) : [this._config.floor];
    const holder = this.shadowRoot.getElementById("floors");
    holder.replaceChildren();
    const selected = this._maps.find((map) => map.selectedTag)?.selectedTag || null;
    this._maps = floors.map((floor) => {
      if (floors.length > 1) {
        const heading = document.createElement("h3");
        heading.textContent = `Floor ${floor}`;
        holder.appendChild(heading);
      }
      const svg = el("svg", { "data-floor": floor }, holder);
      const map = new FloorMap(svg, feed, floor, {
        onTag: (tagId) => this._selectEverywhere(tagId),
        onError: (message) => this._fail(message),
      });
      map.selectedTag = selected;
      map.draw();
      return map;
    });
  }

  _selectEverywhere(tagId) {
    for (const map of this._maps) {
      map.selectedTag = tagId;
      map.drawTags();
    }
    this._showDetails();
  }

  _showDetails() {
    const id = this._maps.find((map) => map.selectedTag)?.selectedTag;
    this.shadowRoot.getElementById("details").textContent =
      id ? describeTag(this._feed, this._feed.tags.get(id)) : "";
  }
}

// The card's form in the dashboard editor: which site, which floor, a title.
class BleRtlsMapCardEditor extends HTMLElement {
  setConfig(config) {
    this._config = { ...config };
    this._render();
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first) this._render();
  }

  async _render() {
    if (!this._hass || !this._config) return;
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    const entries = await sites(this._hass);
    root.innerHTML = `<style>label { display: block; margin: 8px 0; }</style>
      <label>Site <select id="entry"></select></label>
      <label>Floor <input id="floor" type="number" step="1" placeholder="every floor"></label>
      <label>Title <input id="title"></label>`;
    const select = root.getElementById("entry");
    for (const entry of entries) {
      const item = document.createElement("option");
      item.value = entry.entry_id;
      item.textContent = entry.title;
      item.selected = entry.entry_id === this._config.entry_id;
      select.appendChild(item);
    }
    root.getElementById("floor").value = this._config.floor ?? "";
    root.getElementById("title").value = this._config.title || "";
    const changed = () => {
      const floor = root.getElementById("floor").value.trim();
      const title = root.getElementById("title").value.trim();
      const config = { type: this._config.type, entry_id: select.value };
      if (floor !== "") config.floor = Number(floor);
      if (title) config.title = title;
      this._config = config;
      this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
    };
    for (const id of ["entry", "floor", "title"]) root.getElementById(id).addEventListener("change", changed);
  }
}

if (!customElements.get(CARD)) {
  customElements.define(CARD, BleRtlsMapCard);
  customElements.define(`${CARD}-editor`, BleRtlsMapCardEditor);
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: CARD,
    name: "BLE RTLS map",
    description: "Tags moving live on a site's floor plan, with zones and receivers.",
    preview: false,
  });
}
