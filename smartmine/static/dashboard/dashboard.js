// SmartMine live operations dashboard: one plain ES module, no framework.
//
// Live state comes over the WebSocket (/ws/live/): a `snapshot` on connect (and again after every reconnect),
// then one `truck_update` / `crusher_update` / `stockpile_update` per tick carrying the units that changed.
// Everything else (layout, KPIs, alerts, recommendations, model health, history) is read from the REST API.
// The message protocol is documented in docs/live.md, the REST endpoints in docs/api.md.

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

const STREAMS = ["trucks", "crushers", "stockpiles", "ai", "alerts", "kpis"];
const SVG_NS = "http://www.w3.org/2000/svg";
const RECONNECT_DELAYS_S = [1, 2, 4, 8, 15];
// KPIs are not polled: the `kpis` stream sends the shift's figures (`kpi_update`) once a simulated minute.
const REFRESH_MS = { alerts: 20_000, recommendations: 60_000, health: 60_000 };

// Colours of each status (fleet/choices.py STATUS_COLOURS, the admin's too); also drawn as the legend.
// Light colours get dark badge text.
const STATUS_COLOURS = config.statusColours;
const LIGHT_STATUSES = new Set(config.lightStatuses);
const UNKNOWN_STATUS_COLOUR = config.unknownStatusColour;
const TRUCK_LEGEND = [
  "hauling", "returning", "queued_at_loader", "loading", "queued_at_dump", "dumping", "waiting", "refuelling",
  "maintenance", "broken_down",
];

// History charts per equipment kind: [field, title, unit]. Loaders keep no reading history.
const HISTORY_FIELDS = {
  truck: [
    ["speed_kmh", "Speed", "km/h"],
    ["payload_t", "Payload", "t"],
    ["engine_temp_c", "Engine temperature", "°C"],
    ["fuel_l", "Fuel", "L"],
  ],
  crusher: [
    ["throughput_tph", "Throughput", "t/h"],
    ["temperature_c", "Bearing temperature", "°C"],
    ["vibration_mm_s", "Vibration", "mm/s"],
    ["health", "Health", "%"],
  ],
  stockpile: [
    ["level_t", "Level", "t"],
    ["utilisation_pct", "Utilisation", "%"],
  ],
};
// Range in hours -> bucket width asked of the history endpoint (a few hundred points at most).
const HISTORY_INTERVALS = { 1: "1m", 8: "5m", 24: "15m" };
const CHART_COLOURS = ["#0b5cad", "#2e7d32", "#c62828", "#8e24aa"];
// Recommendation statuses still waiting for a decision ("new" in the API; "open" in its first draft).
const OPEN_RECOMMENDATION = new Set(["new", "open"]);

const state = {
  site: null, // the site shown (id)
  wantedSite: config.site, // from ?site=; null: the server's default site
  switching: false,
  units: { truck: new Map(), loader: new Map(), crusher: new Map(), stockpile: new Map() },
  layout: null,
  selected: null, // {kind, id}
  historyHours: 1,
  sort: { key: "name", direction: 1 },
  alerts: [],
  updates: 0,
};

// --- Small helpers ------------------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

const numberFormats = new Map();
function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (!numberFormats.has(digits)) {
    numberFormats.set(digits, new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  }
  return numberFormats.get(digits).format(value);
}

function statusLabel(status) {
  if (!status) return "—";
  const text = status.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function badge(status) {
  const element = h("span", { class: `badge${LIGHT_STATUSES.has(status) ? " light" : ""}` }, statusLabel(status));
  element.style.setProperty("--status", STATUS_COLOURS[status] || UNKNOWN_STATUS_COLOUR);
  return element;
}

// Units fed by real telemetry: "Live", or "Stale since …" once silent for TELEMETRY_STALE_AFTER_S
// (the row's `telemetry` and `stale_since`, docs/live.md); nothing for simulated units.
function telemetryBadge(unit) {
  if (unit.telemetry !== "live" && unit.telemetry !== "stale") return "";
  const stale = unit.telemetry === "stale";
  const text = stale ? `Stale since ${unit.stale_since ? clockText(unit.stale_since) : "—"}` : "Live";
  return h("span", {
    class: `badge telemetry ${unit.telemetry}`,
    title: `Real telemetry; last reading ${timeText(unit.last_reading_at)}`,
  }, text);
}

function telemetryText(unit) {
  if (unit.telemetry === "stale") return `stale since ${timeText(unit.stale_since)}`;
  return unit.telemetry || "simulated";
}

function timeText(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function clockText(iso) {
  const date = iso ? new Date(iso) : new Date();
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRFToken"] = csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("the server cannot be reached", 0);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(data?.error?.message || `${response.status} ${response.statusText}`, response.status);
  }
  return data;
}

function debounce(callback, waitMs) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => callback(...args), waitMs);
  };
}

function unitName(kind, id) {
  if (id === null || id === undefined) return "—";
  if (kind === "zone" || kind === "dump") {
    const list = kind === "zone" ? state.layout?.zones : state.layout?.waste_dumps;
    return list?.find((item) => item.id === id)?.name ?? `#${id}`;
  }
  return state.units[kind]?.get(id)?.name ?? `#${id}`;
}

// --- Live connection ----------------------------------------------------------------------------------

const connection = {
  socket: null,
  attempt: 0,
  timer: null,
  element: document.getElementById("connection"),
  text: document.getElementById("connection-text"),
};

function showConnection(stateName, text) {
  connection.element.dataset.state = stateName;
  connection.text.textContent = text;
  document.querySelector(".map-panel").classList.toggle("stale", stateName !== "live");
}

function connect() {
  clearTimeout(connection.timer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${config.wsPath}`);
  connection.socket = socket;
  showConnection(connection.attempt ? "reconnecting" : "connecting", connection.attempt ? "Reconnecting…" : "Connecting…");
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handleMessage(message);
  });
  socket.addEventListener("close", (event) => {
    if (connection.socket !== socket) return;
    connection.socket = null;
    if (event.code === 4001) {
      showConnection("offline", "Sign in to receive live data");
      return;
    }
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  const base = RECONNECT_DELAYS_S[Math.min(connection.attempt, RECONNECT_DELAYS_S.length - 1)];
  connection.attempt += 1;
  let remaining = Math.round(base + Math.random() * base * 0.3);
  const tick = () => {
    if (remaining <= 0) {
      connect();
      return;
    }
    showConnection("reconnecting", `Disconnected — retrying in ${remaining} s`);
    remaining -= 1;
    connection.timer = setTimeout(tick, 1000);
  };
  tick();
}

function send(message) {
  if (connection.socket?.readyState === WebSocket.OPEN) connection.socket.send(JSON.stringify(message));
}

function handleMessage(message) {
  switch (message.type) {
    case "snapshot":
      applySnapshot(message);
      break;
    case "subscribed":
      if (state.switching) {
        // Connected to the default site but another was asked for (?site=): move the subscriptions over.
        state.switching = false;
        send({ action: "unsubscribe", groups: message.data });
        send({ action: "subscribe", groups: STREAMS.map((stream) => `${stream}@${state.wantedSite}`) });
      }
      break;
    case "truck_update":
    case "crusher_update":
    case "stockpile_update":
      if (message.site !== state.site) return;
      applyItems(message.data);
      noteUpdate(message.timestamp);
      renderLive();
      break;
    case "alert":
      if (message.site === state.site || message.site === null) refreshAlertsSoon();
      break;
    case "ai_recommendation":
      refreshRecommendationsSoon();
      break;
    case "kpi_update":
      if (message.site !== state.site || !message.data?.length) return;
      renderKpis(message.data[0]);
      const kpiList = document.getElementById("kpis");
      kpiList.dataset.liveUpdates = String(Number(kpiList.dataset.liveUpdates || 0) + 1);
      break;
    case "anomaly":
      showAnomalies(message);
      break;
    case "error":
      showConnection("live", `Live — server says: ${message.message}`);
      break;
    default:
      break;
  }
}

function applySnapshot(message) {
  if (state.wantedSite && message.site !== state.wantedSite) {
    state.switching = true;
    return;
  }
  if (message.site === null || message.site === undefined) {
    showConnection("offline", "No site exists yet");
    return;
  }
  connection.attempt = 0;
  const siteChanged = state.site !== message.site;
  state.site = message.site;
  for (const entry of message.data) {
    if (entry.type === "truck_update") {
      state.units.truck.clear();
      state.units.loader.clear();
    } else if (entry.type === "crusher_update") {
      state.units.crusher.clear();
    } else if (entry.type === "stockpile_update") {
      state.units.stockpile.clear();
    }
    applyItems(entry.items);
  }
  showConnection("live", "Live");
  noteUpdate(message.timestamp);
  if (siteChanged || !state.layout) {
    startSite();
  } else {
    renderLive();
    loadKpis(); // a reconnect may have missed kpi_update messages
  }
  refreshAlertsSoon(); // a reconnect may have missed alert messages
}

function applyItems(items) {
  for (const item of items || []) {
    const units = state.units[item.kind];
    if (!units) continue;
    units.set(item.id, { ...units.get(item.id), ...item });
  }
}

function noteUpdate(timestamp) {
  state.updates += 1;
  document.getElementById("map").dataset.updates = String(state.updates);
  const element = document.getElementById("last-update");
  element.dateTime = timestamp || new Date().toISOString();
  element.textContent = clockText(timestamp);
}

// --- Site: layout and the REST-fed panels ------------------------------------------------------------

const timers = [];

async function startSite() {
  timers.splice(0).forEach(clearInterval);
  loadSites();
  try {
    state.layout = await api(`/api/sites/${state.site}/layout`);
  } catch (error) {
    state.layout = { zones: [], haul_roads: [], waste_dumps: [], fuel_bays: [] };
    document.getElementById("map-empty").textContent = `Map layout unavailable: ${error.message}`;
  }
  drawMap();
  renderLive();
  loadKpis();
  loadAlerts();
  loadRecommendations();
  loadHealth();
  timers.push(
    setInterval(loadAlerts, REFRESH_MS.alerts),
    setInterval(loadRecommendations, REFRESH_MS.recommendations),
    setInterval(loadHealth, REFRESH_MS.health),
  );
}

async function loadSites() {
  const select = document.getElementById("site-select");
  try {
    const page = await api("/api/sites?limit=200");
    select.replaceChildren(
      ...page.results.map((site) => h("option", { value: site.id, selected: site.id === state.site }, site.name)),
    );
  } catch {
    select.replaceChildren(h("option", { value: state.site }, `Site ${state.site}`));
  }
}

document.getElementById("site-select").addEventListener("change", (event) => {
  const url = new URL(location.href);
  url.searchParams.set("site", event.target.value);
  location.assign(url);
});

function renderLive() {
  updateMapUnits();
  renderFleet();
  renderCrushers();
  renderStockpiles();
  if (state.selected) renderDetailsFields();
}

// --- Map: lat/lon projected locally to metres, drawn in SVG ------------------------------------------

const map = {
  element: document.getElementById("map"),
  project: null,
  unitsLayer: null,
  nodes: new Map(), // "kind:id" -> <g>
  pxPerUnit: 1,
};

function makeProjection(points) {
  const lat0 = points.reduce((sum, [lat]) => sum + lat, 0) / points.length;
  const lon0 = points.reduce((sum, [, lon]) => sum + lon, 0) / points.length;
  const metresPerLon = 111_320 * Math.cos((lat0 * Math.PI) / 180);
  const project = ([lat, lon]) => [(lon - lon0) * metresPerLon, -(lat - lat0) * 110_540];
  const xy = points.map(project);
  let [minX, maxX, minY, maxY] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of xy) {
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const pad = Math.max(maxX - minX, maxY - minY, 200) * 0.06;
  return { project, viewBox: [minX - pad, minY - pad, maxX - minX + 2 * pad, maxY - minY + 2 * pad] };
}

function layoutPoints() {
  const layout = state.layout;
  const points = [];
  for (const zone of layout.zones) points.push(...(zone.polygon?.length ? zone.polygon : [[zone.lat, zone.lon]]));
  for (const road of layout.haul_roads) points.push(...road.polyline);
  for (const place of [...layout.waste_dumps, ...layout.fuel_bays]) points.push([place.lat, place.lon]);
  for (const kind of ["crusher", "stockpile", "loader"]) {
    for (const unit of state.units[kind].values()) points.push([unit.lat, unit.lon]);
  }
  return points.filter(([lat, lon]) => Number.isFinite(lat) && Number.isFinite(lon) && (lat || lon));
}

function drawMap() {
  const element = map.element;
  const points = state.layout ? layoutPoints() : [];
  if (!points.length) return;
  const { project, viewBox } = makeProjection(points);
  map.project = project;
  element.setAttribute("viewBox", viewBox.join(" "));
  // The frame follows the mine's shape, within bounds, so little of a phone's screen is left empty.
  element.style.aspectRatio = String(Math.min(2.2, Math.max(1, viewBox[2] / viewBox[3])));
  // Marker sizes are set in screen pixels so units stay legible on a phone and not huge on a wall screen.
  map.pxPerUnit = (element.clientWidth || 800) / viewBox[2];
  const px = (pixels) => pixels / Math.min(map.pxPerUnit, (element.clientHeight || 500) / viewBox[3]);
  map.px = px;
  const fontSize = px(11);
  const toPoints = (line) => line.map((point) => project(point).join(",")).join(" ");

  const base = svg("g", { class: "base" });
  for (const zone of state.layout.zones) {
    const outline = zone.polygon?.length ? zone.polygon : null;
    if (outline) {
      base.append(
        svg("polygon", { class: `zone ${zone.material} ${zone.status}`, points: toPoints(outline) },
          svg("title", {}, `${zone.name}: ${zone.material}, ${zone.status}`)),
      );
    }
  }
  for (const road of state.layout.haul_roads) base.append(svg("polyline", { class: "road-edge", points: toPoints(road.polyline) }));
  for (const road of state.layout.haul_roads) {
    base.append(svg("polyline", { class: "road", points: toPoints(road.polyline) }, svg("title", {}, road.name)));
  }
  const labels = svg("g", { class: "labels", "font-size": fontSize });
  for (const zone of state.layout.zones) {
    const [x, y] = project([zone.lat, zone.lon]);
    labels.append(svg("text", { class: "label", x, y: y - px(9), "text-anchor": "middle" }, zone.name));
  }
  for (const dump of state.layout.waste_dumps) {
    const [x, y] = project([dump.lat, dump.lon]);
    const size = px(16);
    base.append(
      svg("g", { class: "dump" },
        svg("rect", { class: "shape", x: x - size / 2, y: y - size / 2, width: size, height: size, rx: px(2) }),
        svg("title", {}, `${dump.name} (waste dump)`)),
    );
    labels.append(svg("text", { class: "label", x, y: y + px(20), "text-anchor": "middle" }, dump.name));
  }
  for (const bay of state.layout.fuel_bays) {
    const [x, y] = project([bay.lat, bay.lon]);
    const size = px(10);
    base.append(
      svg("g", { class: "fuel" },
        svg("rect", { class: "shape", x: x - size / 2, y: y - size / 2, width: size, height: size }),
        svg("title", {}, `${bay.name} (fuel bay)`)),
    );
    labels.append(svg("text", { class: "label", x, y: y + px(17), "text-anchor": "middle" }, bay.name));
  }
  map.unitsLayer = svg("g", { class: "units" });
  map.nodes.clear();
  element.replaceChildren(base, map.unitsLayer, labels);
  document.getElementById("map-empty").hidden = true;
  updateMapUnits();
}

function unitShape(kind, unit) {
  const px = map.px;
  if (kind === "truck") {
    const s = px(8);
    return svg("path", { class: "shape", d: `M0,${-s} L${0.65 * s},${0.8 * s} L0,${0.4 * s} L${-0.65 * s},${0.8 * s} Z` });
  }
  if (kind === "loader") {
    const s = px(9);
    return svg("rect", { class: "shape", x: -s / 2, y: -s / 2, width: s, height: s, rx: px(1.5) });
  }
  if (kind === "crusher") {
    const s = px(9);
    return svg("path", { class: "shape", d: `M0,${-s} L${s},0 L0,${s} L${-s},0 Z` });
  }
  const r = px(9);
  const group = svg("g", {}, svg("circle", { class: "shape", r }));
  group.append(svg("path", { class: "fill" }));
  return group;
}

function updateMapUnits() {
  if (!map.project || !map.unitsLayer) return;
  const seen = new Set();
  for (const kind of ["stockpile", "crusher", "loader", "truck"]) {
    for (const unit of state.units[kind].values()) {
      if (!Number.isFinite(unit.lat) || !Number.isFinite(unit.lon)) continue;
      const key = `${kind}:${unit.id}`;
      seen.add(key);
      let node = map.nodes.get(key);
      if (!node) {
        node = svg("g", { class: `unit ${kind}`, tabindex: "0", role: "button", "data-kind": kind, "data-id": unit.id });
        node.append(unitShape(kind, unit), svg("title"));
        if (kind !== "truck") {
          node.append(svg("text", { class: "label", y: map.px(22), "text-anchor": "middle", "font-size": map.px(11) }, unit.name));
        }
        map.nodes.set(key, node);
        map.unitsLayer.append(node);
      }
      const [x, y] = map.project([unit.lat, unit.lon]);
      node.style.transform = `translate(${x.toFixed(2)}px, ${y.toFixed(2)}px)`;
      node.dataset.lat = unit.lat;
      node.dataset.lon = unit.lon;
      node.dataset.status = unit.status;
      node.classList.toggle("selected", state.selected?.kind === kind && state.selected?.id === unit.id);
      node.classList.toggle("stale", unit.telemetry === "stale");
      const shape = node.firstChild;
      const colour = STATUS_COLOURS[unit.status] || UNKNOWN_STATUS_COLOUR;
      if (kind === "truck") {
        shape.setAttribute("transform", `rotate(${unit.heading_deg || 0})`);
        shape.setAttribute("fill", colour);
      } else if (kind === "loader" || kind === "crusher") {
        shape.setAttribute("fill", colour);
      } else {
        drawStockpileFill(shape, unit);
      }
      const summary = `${unit.name}: ${statusLabel(unit.status)}${unit.telemetry === "stale" ? `, ${telemetryText(unit)}` : ""}`;
      node.setAttribute("aria-label", summary);
      node.querySelector("title").textContent = summary;
    }
  }
  for (const [key, node] of map.nodes) {
    if (!seen.has(key)) {
      node.remove();
      map.nodes.delete(key);
    }
  }
}

function drawStockpileFill(group, pile) {
  // The pile's level as a filled segment of its circle, from the bottom up.
  const r = Number(group.firstChild.getAttribute("r"));
  const share = Math.max(0, Math.min(1, (pile.utilisation_pct ?? 0) / 100));
  const y = r - 2 * r * share;
  const half = Math.sqrt(Math.max(0, r * r - y * y));
  const large = share > 0.5 ? 1 : 0;
  const d = share <= 0 ? "" : share >= 1 ? `M${-r},0 A${r},${r} 0 1 0 ${r},0 A${r},${r} 0 1 0 ${-r},0 Z`
    : `M${-half},${y} A${r},${r} 0 ${large} 0 ${half},${y} Z`;
  group.lastChild.setAttribute("d", d);
}

map.element.addEventListener("click", (event) => {
  const node = event.target.closest(".unit");
  if (node) select(node.dataset.kind, Number(node.dataset.id));
});
map.element.addEventListener("keydown", (event) => {
  const node = event.target.closest?.(".unit");
  if (node && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    select(node.dataset.kind, Number(node.dataset.id));
  }
});
new ResizeObserver(debounce(() => state.layout && drawMap(), 150)).observe(document.querySelector(".map-wrap"));

document.getElementById("legend").replaceChildren(
  ...TRUCK_LEGEND.map((status) => {
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = STATUS_COLOURS[status];
    return h("li", {}, swatch, statusLabel(status));
  }),
);

// --- Fleet table ----------------------------------------------------------------------------------------

const fleetBody = document.getElementById("fleet-body");
const fleetRows = new Map(); // "kind:id" -> <tr>

function fleetValue(unit, key) {
  if (key === "zone") return unit.zone_id ? unitName("zone", unit.zone_id) : "";
  return unit[key];
}

function renderFleet() {
  const units = [...state.units.truck.values(), ...state.units.loader.values()];
  const { key, direction } = state.sort;
  units.sort((a, b) => {
    const [x, y] = [fleetValue(a, key), fleetValue(b, key)];
    if (x === y) return a.name.localeCompare(b.name, undefined, { numeric: true });
    if (x === null || x === undefined || x === "") return 1;
    if (y === null || y === undefined || y === "") return -1;
    return (typeof x === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true })) * direction;
  });
  const focused = document.activeElement;
  const seen = new Set();
  let previous = null;
  for (const unit of units) {
    const rowKey = `${unit.kind}:${unit.id}`;
    seen.add(rowKey);
    let row = fleetRows.get(rowKey);
    if (!row) {
      row = h("tr", { dataset: { kind: unit.kind, id: unit.id } },
        h("th", { scope: "row" }, h("button", { type: "button", class: "unit-link" }, unit.name)),
        ...Array.from({ length: 7 }, (_, index) => h("td", { class: index >= 1 && index <= 5 ? "num" : null })));
      fleetRows.set(rowKey, row);
    }
    const truck = unit.kind === "truck";
    const cells = row.children;
    cells[1].replaceChildren(badge(unit.status), " ", telemetryBadge(unit));
    cells[2].textContent = truck ? fmt(unit.speed_kmh, 0) : "—";
    cells[3].textContent = truck ? fmt(unit.payload_t, 0) : "—";
    cells[4].textContent = truck ? fmt(unit.fuel_pct, 0) : "—";
    cells[5].textContent = truck ? fmt(unit.engine_temp_c, 0) : "—";
    cells[6].textContent = fmt(unit.health, 0);
    cells[7].textContent = unit.zone_id ? unitName("zone", unit.zone_id) : truck ? "—" : "";
    row.classList.toggle("selected", state.selected?.kind === unit.kind && state.selected?.id === unit.id);
    const expected = previous ? previous.nextSibling : fleetBody.firstChild;
    if (expected !== row) fleetBody.insertBefore(row, expected); // move only rows whose place changed
    previous = row;
  }
  for (const [rowKey, row] of fleetRows) {
    if (!seen.has(rowKey)) {
      row.remove();
      fleetRows.delete(rowKey);
    }
  }
  if (focused && focused !== document.activeElement && fleetBody.contains(focused)) focused.focus();
  const counts = {};
  for (const truck of state.units.truck.values()) counts[truck.status] = (counts[truck.status] || 0) + 1;
  const summary = Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([status, n]) => `${n} ${statusLabel(status).toLowerCase()}`);
  document.getElementById("fleet-summary").textContent =
    `${state.units.truck.size} trucks, ${state.units.loader.size} loaders${summary.length ? ` · ${summary.join(", ")}` : ""}`;
}

fleetBody.addEventListener("click", (event) => {
  const row = event.target.closest("tr");
  if (row) select(row.dataset.kind, Number(row.dataset.id));
});

for (const header of document.querySelectorAll("#fleet-table th[data-key]")) {
  header.querySelector("button").addEventListener("click", () => {
    const key = header.dataset.key;
    state.sort = { key, direction: state.sort.key === key ? -state.sort.direction : 1 };
    for (const other of document.querySelectorAll("#fleet-table th[data-key]")) other.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", state.sort.direction === 1 ? "ascending" : "descending");
    renderFleet();
  });
}

// --- Crushers and stockpiles ---------------------------------------------------------------------------

function metric(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}

function renderCrushers() {
  const container = document.getElementById("crushers");
  const crushers = [...state.units.crusher.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (!crushers.length) {
    container.replaceChildren(h("p", { class: "empty" }, "No crushers."));
    return;
  }
  container.replaceChildren(
    ...crushers.map((crusher) =>
      h("article", { class: "card", "aria-label": crusher.name, dataset: { id: crusher.id } },
        h("div", { class: "card-head" },
          h("button", { type: "button", onclick: () => select("crusher", crusher.id) }, crusher.name),
          h("span", {}, badge(crusher.status), " ", telemetryBadge(crusher))),
        h("label", { class: "visually-hidden", for: `crusher-tp-${crusher.id}` }, `${crusher.name} throughput`),
        h("meter", {
          id: `crusher-tp-${crusher.id}`, min: 0, max: crusher.rated_capacity_tph || 1, value: crusher.throughput_tph || 0,
          title: "Throughput against rated capacity",
        }),
        h("dl", { class: "metrics" },
          metric("Throughput", `${fmt(crusher.throughput_tph)} / ${fmt(crusher.rated_capacity_tph)} t/h`),
          metric("Temperature", `${fmt(crusher.temperature_c, 1)} °C`),
          metric("Vibration", `${fmt(crusher.vibration_mm_s, 1)} mm/s`),
          metric("Health", `${fmt(crusher.health, 0)} %`),
          metric("Feed bin", `${fmt(crusher.feed_bin_t)} / ${fmt(crusher.feed_bin_capacity_t)} t`),
          metric("Liner wear", `${fmt(crusher.liner_wear_pct, 0)} %`))),
    ),
  );
}

function renderStockpiles() {
  const list = document.getElementById("stockpiles");
  const piles = [...state.units.stockpile.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (!piles.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No stockpiles."));
    return;
  }
  list.replaceChildren(
    ...piles.map((pile) => {
      const share = Math.max(0, Math.min(100, pile.utilisation_pct ?? 0));
      const level = h("span", { class: `level ${pile.status}` });
      level.style.width = `${share}%`;
      const marks = [pile.low_pct, pile.high_pct].filter(Number.isFinite).map((pct) => {
        const mark = h("span", { class: "mark", title: `${pct} %` });
        mark.style.left = `${pct}%`;
        return mark;
      });
      return h("li", { dataset: { id: pile.id } },
        h("div", { class: "bar-head" },
          h("button", { type: "button", onclick: () => select("stockpile", pile.id) }, pile.name),
          h("span", {}, `${fmt(share, 0)} % `, badge(pile.status), " ", telemetryBadge(pile))),
        h("div", {
          class: "bar", role: "meter", "aria-label": `${pile.name} level`, "aria-valuemin": "0",
          "aria-valuemax": String(pile.capacity_t), "aria-valuenow": String(Math.round(pile.level_t)),
          "aria-valuetext": `${fmt(pile.level_t)} of ${fmt(pile.capacity_t)} tonnes`,
        }, level, ...marks),
        h("div", { class: "bar-foot" },
          `${fmt(pile.level_t)} / ${fmt(pile.capacity_t)} t · ${pile.material_name || ""} · in ${fmt(pile.fill_rate_tph)} t/h, out ${fmt(pile.discharge_rate_tph)} t/h`));
    }),
  );
}

// --- Unit details and history charts ----------------------------------------------------------------

const details = {
  panel: document.getElementById("details"),
  title: document.getElementById("details-title"),
  fields: document.getElementById("details-fields"),
  charts: document.getElementById("details-charts"),
  note: document.getElementById("history-note"),
  plots: [],
  request: 0,
};

const DETAIL_FIELDS = {
  truck: (u) => [
    ["Model", u.model], ["Speed", `${fmt(u.speed_kmh, 1)} km/h`], ["Heading", `${fmt(u.heading_deg)}°`],
    ["Payload", `${fmt(u.payload_t)} / ${fmt(u.rated_payload_t)} t`], ["Fuel", `${fmt(u.fuel_l)} L (${fmt(u.fuel_pct)} %)`],
    ["Engine temperature", `${fmt(u.engine_temp_c, 1)} °C`], ["Tyre pressure", `${fmt(u.tyre_pressure_kpa)} kPa`],
    ["Vibration", `${fmt(u.vibration_mm_s, 1)} mm/s`], ["Engine hours", fmt(u.engine_hours)], ["Health", `${fmt(u.health, 1)} %`],
    ["Loader", unitName("loader", u.assigned_loader_id)],
    ["Destination", u.destination_crusher_id ? unitName("crusher", u.destination_crusher_id) : unitName("dump", u.destination_dump_id)],
    ["Zone", unitName("zone", u.zone_id)], ["Last reading", timeText(u.last_reading_at)], ["Telemetry", telemetryText(u)],
  ],
  loader: (u) => [
    ["Model", u.model], ["Dig rate", `${fmt(u.dig_rate_tph)} t/h`], ["Bucket", `${fmt(u.bucket_t)} t`],
    ["Zone", unitName("zone", u.zone_id)], ["Health", `${fmt(u.health, 1)} %`], ["Engine hours", fmt(u.engine_hours)],
  ],
  crusher: (u) => [
    ["Model", `${u.model} (${u.crusher_type})`], ["Throughput", `${fmt(u.throughput_tph)} / ${fmt(u.rated_capacity_tph)} t/h`],
    ["Utilisation", `${fmt(u.utilisation_pct)} %`], ["Feed bin", `${fmt(u.feed_bin_t)} / ${fmt(u.feed_bin_capacity_t)} t`],
    ["Efficiency", `${fmt(u.efficiency_pct)} %`], ["Temperature", `${fmt(u.temperature_c, 1)} °C`],
    ["Vibration", `${fmt(u.vibration_mm_s, 1)} mm/s`], ["Power", `${fmt(u.power_kw)} kW`],
    ["Liner wear", `${fmt(u.liner_wear_pct)} %`], ["Health", `${fmt(u.health, 1)} %`],
    ["Feeds", unitName("stockpile", u.stockpile_id)], ["Last reading", timeText(u.last_reading_at)],
    ["Telemetry", telemetryText(u)],
  ],
  stockpile: (u) => [
    ["Material", u.material_name], ["Level", `${fmt(u.level_t)} / ${fmt(u.capacity_t)} t`],
    ["Utilisation", `${fmt(u.utilisation_pct, 1)} %`], ["Fill rate", `${fmt(u.fill_rate_tph)} t/h`],
    ["Discharge", `${fmt(u.discharge_rate_tph)} t/h`], ["Reclaim set point", `${fmt(u.reclaim_rate_tph)} t/h`],
    ["Grade", `${fmt(u.grade_pct, 1)} %`], ["Low / high", `${fmt(u.low_pct)} / ${fmt(u.high_pct)} %`],
    ["Last reading", timeText(u.last_reading_at)], ["Telemetry", telemetryText(u)],
  ],
};

function select(kind, id) {
  if (!state.units[kind]?.has(id)) return;
  state.selected = { kind, id };
  details.panel.hidden = false;
  renderDetailsFields();
  updateMapUnits();
  renderFleet();
  loadHistory();
  details.panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function renderDetailsFields() {
  const { kind, id } = state.selected;
  const unit = state.units[kind].get(id);
  if (!unit) return;
  details.title.replaceChildren(`${unit.name} `, h("small", {}, kind), " ", badge(unit.status), " ", telemetryBadge(unit));
  details.fields.replaceChildren(...DETAIL_FIELDS[kind](unit).map(([label, value]) => metric(label, value ?? "—")));
}

function closeDetails() {
  state.selected = null;
  details.panel.hidden = true;
  destroyCharts();
  updateMapUnits();
  renderFleet();
}

function destroyCharts() {
  details.plots.splice(0).forEach((plot) => plot.destroy());
  details.charts.replaceChildren();
}

async function loadHistory() {
  const { kind, id } = state.selected;
  const request = ++details.request;
  destroyCharts();
  const fields = HISTORY_FIELDS[kind];
  if (!fields) {
    details.note.textContent = "Loaders keep no reading history.";
    return;
  }
  const unit = state.units[kind].get(id);
  if (!unit.last_reading_at) {
    details.note.textContent = "No readings yet.";
    return;
  }
  // The window ends at the newest reading: simulated time may run ahead of or behind the wall clock.
  const end = new Date(new Date(unit.last_reading_at).getTime() + 1000);
  const start = new Date(end.getTime() - state.historyHours * 3_600_000);
  const query = new URLSearchParams({
    interval: HISTORY_INTERVALS[state.historyHours], fields: fields.map(([name]) => name).join(","),
    from: start.toISOString(), to: end.toISOString(),
  });
  details.note.textContent = "Loading history…";
  let history;
  try {
    history = await api(`/api/${kind}s/${id}/readings?${query}`);
  } catch (error) {
    if (request === details.request) details.note.textContent = `History unavailable: ${error.message}`;
    return;
  }
  if (request !== details.request) return; // another unit or range was chosen meanwhile
  const rows = history.results;
  details.note.textContent = rows.length
    ? `${rows.length} buckets of ${history.interval}, ${timeText(history.from)} to ${timeText(history.to)}`
    : "No readings in this range.";
  if (!rows.length) return;
  const times = rows.map((row) => new Date(row.bucket).getTime() / 1000);
  fields.forEach(([name, title, unitText], index) => {
    const holder = h("div", { class: "chart", dataset: { field: name, points: rows.length } }, h("h4", {}, `${title} (${unitText})`));
    details.charts.append(holder);
    const colour = CHART_COLOURS[index % CHART_COLOURS.length];
    const few = rows.length < 30;
    const plot = new uPlot(
      {
        width: Math.max(200, holder.clientWidth),
        height: 140,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{ size: 30 }, { size: 52 }],
        series: [
          {},
          { label: `${title} mean`, stroke: colour, width: 2, points: { show: few } },
          { label: "min", stroke: `${colour}66`, width: 1, points: { show: false } },
          { label: "max", stroke: `${colour}66`, width: 1, points: { show: false } },
        ],
        bands: [{ series: [3, 2], fill: `${colour}1f` }],
      },
      [times, rows.map((row) => row[`${name}_avg`]), rows.map((row) => row[`${name}_min`]), rows.map((row) => row[`${name}_max`])],
      holder,
    );
    plot.root.setAttribute("role", "img");
    plot.root.setAttribute("aria-label", `${title} over the last ${state.historyHours} h: mean with min–max band`);
    details.plots.push(plot);
  });
}

document.getElementById("details-close").addEventListener("click", closeDetails);
for (const button of document.querySelectorAll(".segmented button[data-range]")) {
  button.addEventListener("click", () => {
    state.historyHours = Number(button.dataset.range);
    for (const other of document.querySelectorAll(".segmented button[data-range]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    if (state.selected) loadHistory();
  });
}
new ResizeObserver(
  debounce(() => details.plots.forEach((plot) => plot.setSize({ width: Math.max(200, plot.root.parentElement.clientWidth), height: 140 })), 150),
).observe(details.charts);

// --- KPIs of the current shift ------------------------------------------------------------------------

// Once when a site is shown (and when the live connection is back): kpi_update keeps them current.
async function loadKpis() {
  let kpis;
  try {
    kpis = await api(`/api/mining/kpis?site=${state.site}&window=shift`);
  } catch (error) {
    document.getElementById("kpis").replaceChildren(h("p", { class: "note error" }, `KPIs unavailable: ${error.message}`));
    return;
  }
  renderKpis(kpis);
}

function renderKpis(kpis) {
  const list = document.getElementById("kpis");
  document.getElementById("kpi-window").textContent = `${clockText(kpis.window.from)} – ${clockText(kpis.window.to)}`;
  const item = (label, value, unit) => h("div", {}, h("dt", {}, label), h("dd", {}, value, unit ? h("small", {}, ` ${unit}`) : null));
  list.replaceChildren(
    item("Material moved", fmt(kpis.tonnes?.total_t), "t"),
    item("Ore moved", fmt(kpis.tonnes?.ore_t), "t"),
    item("Production rate", fmt(kpis.production_rate_tph), "t/h"),
    item("Truck cycle", fmt(kpis.truck_cycle?.cycle_min, 1), "min"),
    item("Queue at loaders", fmt(kpis.queue_time?.at_loaders_min, 1), "min"),
    item("Truck availability", fmt(kpis.trucks?.physical_availability_pct, 1), "%"),
    item("Truck utilisation", fmt(kpis.trucks?.utilisation_pct, 1), "%"),
    item("Match factor", fmt(kpis.match_factor?.value, 2)),
    item("Mean payload", fmt(kpis.payload_compliance?.mean_payload_pct, 1), "% of rated"),
    item("Fuel", fmt(kpis.fuel?.l_per_t, 2), "L/t"),
    item("Crusher OEE", fmt(kpis.crushers?.oee_pct, 1), "%"),
    item("Stockpile cover", fmt(kpis.stockpiles?.hours_of_cover, 1), "h"),
  );
}

// --- Alerts -------------------------------------------------------------------------------------------

async function loadAlerts() {
  const status = document.getElementById("alerts-status");
  try {
    const page = await api(`/api/alerts?site=${state.site}&open=true&limit=50`);
    state.alerts = page.results;
    status.classList.remove("error");
    if (status.dataset.kind === "load") status.textContent = "";
  } catch (error) {
    status.textContent = `Alerts unavailable: ${error.message}`;
    status.dataset.kind = "load";
    status.classList.add("error");
    return;
  }
  renderAlerts();
}
const refreshAlertsSoon = debounce(() => state.site && loadAlerts(), 400);

function renderAlerts() {
  const list = document.getElementById("alerts");
  const open = state.alerts.filter((alert) => !alert.acknowledged_at).length;
  const counter = document.getElementById("alert-count");
  counter.textContent = `${open} unacknowledged alert${open === 1 ? "" : "s"}`;
  counter.dataset.open = String(open);
  if (!state.alerts.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No open alerts."));
    return;
  }
  list.replaceChildren(
    ...state.alerts.map((alert) => {
      const acknowledged = Boolean(alert.acknowledged_at);
      const kind = alert.equipment_kind;
      const name = state.units[kind]?.has(alert.equipment_id)
        ? h("button", { type: "button", class: "link-button unit-link", onclick: () => select(kind, alert.equipment_id) }, alert.equipment_name)
        : h("strong", {}, alert.equipment_name);
      let footer;
      if (acknowledged) {
        footer = h("span", { class: "acknowledged-by" }, `Acknowledged by ${alert.acknowledged_by || "someone"} at ${clockText(alert.acknowledged_at)}`);
      } else if (config.canAcknowledge) {
        footer = h("div", { class: "actions" },
          h("button", { type: "button", class: "primary", onclick: (event) => acknowledge(alert, event.currentTarget) },
            "Acknowledge", h("span", { class: "visually-hidden" }, ` alert on ${alert.equipment_name}`)));
      } else {
        footer = h("span", {}, "Not acknowledged");
      }
      return h("li", { class: `${alert.severity}${acknowledged ? " acknowledged" : ""}`, dataset: { id: alert.id } },
        h("div", { class: "item-head" },
          h("span", {}, h("span", { class: `sev ${alert.severity}` }, alert.severity), " · ", name),
          h("time", { datetime: alert.last_raised_at }, clockText(alert.last_raised_at))),
        h("p", { class: "item-body" }, alert.message),
        h("div", { class: "item-foot" },
          h("span", {}, alert.repeat_count > 1 ? `${alert.kind} · raised ${alert.repeat_count}×` : alert.kind), footer));
    }),
  );
}

async function acknowledge(alert, button) {
  const status = document.getElementById("alerts-status");
  button.disabled = true;
  try {
    await api(`/api/alerts/${alert.id}/acknowledge`, { method: "POST" });
    status.classList.remove("error");
    status.dataset.kind = "action";
    status.textContent = `Alert on ${alert.equipment_name} acknowledged.`;
  } catch (error) {
    button.disabled = false;
    status.classList.add("error");
    status.dataset.kind = "action";
    status.textContent = `Could not acknowledge: ${error.message}`;
    return;
  }
  await loadAlerts();
}

// --- AI recommendations -------------------------------------------------------------------------------

async function loadRecommendations() {
  const list = document.getElementById("recommendations");
  let page;
  try {
    page = await api(`/api/ml/recommendations?site=${state.site}`);
  } catch (error) {
    list.replaceChildren(h("li", { class: "empty" }, `Recommendations unavailable: ${error.message}`));
    return;
  }
  if (!page.results.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No recommendations right now."));
    return;
  }
  list.replaceChildren(
    ...page.results.map((rec) =>
      h("li", { class: `prio-${rec.priority}`, dataset: { id: rec.id } },
        h("div", { class: "item-head" }, h("strong", {}, rec.title), h("span", {}, `${rec.priority} · ${rec.kind}`)),
        h("p", { class: "item-body" }, rec.reasoning),
        h("div", { class: "item-foot" },
          h("span", {}, rec.expected_impact ? `Expected: ${rec.expected_impact}` : ""),
          OPEN_RECOMMENDATION.has(rec.status) && config.canDecide
            ? h("div", { class: "actions" },
              h("button", { type: "button", class: "primary", onclick: (event) => decide(rec, "accept", event.currentTarget) }, "Accept"),
              h("button", { type: "button", onclick: (event) => decide(rec, "dismiss", event.currentTarget) }, "Dismiss"))
            : h("span", {}, statusLabel(rec.status)))),
    ),
  );
}
const refreshRecommendationsSoon = debounce(() => state.site && loadRecommendations(), 500);

async function decide(rec, verb, button) {
  const status = document.getElementById("recs-status");
  button.disabled = true;
  try {
    await api(`/api/ml/recommendations/${rec.id}/${verb}`, { method: "POST" });
    status.classList.remove("error");
    status.textContent = `Recommendation ${verb === "accept" ? "accepted" : "dismissed"}.`;
  } catch (error) {
    button.disabled = false;
    status.classList.add("error");
    status.textContent = `Could not ${verb}: ${error.message}`;
    return;
  }
  loadRecommendations();
}

// --- Model health and anomalies ----------------------------------------------------------------------

async function loadHealth() {
  const container = document.getElementById("model-health");
  const version = document.getElementById("model-version");
  let page;
  try {
    page = await api(`/api/ml/health-prediction?site=${state.site}`);
  } catch (error) {
    container.replaceChildren(h("p", { class: "note error" }, `Predictions unavailable: ${error.message}`));
    return;
  }
  const simulated = [...new Set(Object.values(page.models ?? {}).filter(Boolean))];
  version.textContent = page.model_version
    ? `model ${page.model_version}${simulated.length ? ` (${simulated.join("; ")})` : ""}`
    : "";
  const status = modelStatus(page);
  if (!page.results.length) {
    const text = page.status === "training" ? "Predictions follow once the first models are trained."
      : page.model_version ? "No predictions yet." : "No failure-prediction model trained yet.";
    container.replaceChildren(...status, h("p", { class: "empty" }, text));
    return;
  }
  const riskiest = [...page.results].sort((a, b) => b.failure_probability - a.failure_probability).slice(0, 8);
  container.replaceChildren(
    ...status,
    h("table", { class: "health-table" },
      h("caption", { class: "visually-hidden" }, "Units most at risk of failure within the model's horizon"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Unit"), h("th", { scope: "col", class: "num" }, "Predicted health"),
        h("th", { scope: "col", class: "num" }, "Failure risk"), h("th", { scope: "col", class: "num" }, "RUL h"),
        h("th", { scope: "col" }, "Main factor"))),
      h("tbody", {}, ...riskiest.map((row) => h("tr", {},
        h("th", { scope: "row" }, row.equipment_name),
        h("td", { class: "num" }, fmt(row.predicted_health, 0)),
        h("td", { class: "num" }, `${fmt(100 * row.failure_probability, 0)} %`),
        h("td", { class: "num" }, fmt(row.rul_h, 0)),
        h("td", {}, row.factors?.[0]?.feature?.replaceAll("_", " ") ?? "—"))))),
  );
}

// The first models' bootstrap (docs/ml.md): its progress while it trains or refines, its error when it failed.
function modelStatus(page) {
  const run = page.bootstrap;
  const progressNote = (text, label) => [
    h("p", { class: "note", role: "status" }, `${text} (${fmt(100 * run.progress, 0)} %)`),
    h("progress", { max: "1", value: String(run.progress), "aria-label": label }),
  ];
  if (page.status === "training" && run) {
    return progressNote(`Training the first models on simulated sites: ${run.step || run.status}`,
      "Model training progress");
  }
  if (run?.status === "refining") {
    return progressNote(`Models active; ${run.step}`, "Model refinement progress");
  }
  if (page.status === "failed" && run) {
    return [h("p", { class: "note error", role: "status" },
      `Model training failed (attempt ${run.attempts}), retried automatically: ${run.error}`)];
  }
  return [];
}

const anomalies = [];
function showAnomalies(message) {
  const items = Array.isArray(message.data) ? message.data : [message.data];
  for (const item of items) {
    if (!item) continue;
    const who = item.equipment_name || `${item.unit_kind || item.equipment_kind || "unit"} ${item.unit_id ?? item.equipment_id ?? ""}`;
    const what = Array.isArray(item.sensors) ? item.sensors.join(", ") : item.sensor || item.kind || "anomaly";
    anomalies.unshift({ at: message.timestamp, text: `${who}: ${what}${Number.isFinite(item.score) ? ` (score ${fmt(item.score, 1)})` : ""}` });
  }
  anomalies.splice(10);
  document.getElementById("anomalies").replaceChildren(
    ...anomalies.map((anomaly) => h("li", {}, h("time", { datetime: anomaly.at }, clockText(anomaly.at)), ` ${anomaly.text}`)),
  );
}

// --- Start ---------------------------------------------------------------------------------------------

window.addEventListener("online", () => {
  if (!connection.socket) connect();
});
connect();
