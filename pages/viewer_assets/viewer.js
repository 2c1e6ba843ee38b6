// The graph viewer's page side. Pan and zoom come from svg-pan-zoom; this file wires its buttons,
// node details, search, stage folding and overlays, and speaks Streamlit's component messages.
"use strict";

const Message = {
  READY: "streamlit:componentReady",
  RENDER: "streamlit:render",
  VALUE: "streamlit:setComponentValue",
  HEIGHT: "streamlit:setFrameHeight",
};
// Moving the pointer less than this between press and release is a click, not a drag.
const CLICK_SLOP_PX = 4;
// Searching zooms in to at least this scale, so the match can be read.
const READABLE_SCALE = 0.9;
const MAX_ROWS = 200;
const HINT = "Click a node for its module path, shapes, costs and layer-table rows; drag to " +
  "pan, scroll to zoom.";

const state = {
  key: null, args: null, panZoom: null, matches: [], matchIndex: -1, overlay: "", selected: null,
  focusStage: null, sent: null, minimap: null, requestedFolded: null, pageOverlay: null,
};
const $ = (id) => document.getElementById(id);

function send(type, data) {
  window.parent.postMessage({isStreamlitMessage: true, type, ...data}, "*");
}

function setHeight() {
  send(Message.HEIGHT, {height: document.body.scrollHeight});
}

// ----- numbers as the app writes them ---------------------------------------------------------

function count(value) { return value == null ? "" : Number(value).toLocaleString("en-US"); }

function compact(value, measure) {
  if (value == null) return "";
  if (measure === "activation_bytes") {
    return value >= 1e6 ? `${(value / 1e6).toFixed(1)} MB` : `${(value / 1e3).toFixed(1)} kB`;
  }
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return String(value);
}

function shape(value) { return Array.isArray(value) ? value.join(" x ") : ""; }

// A row's output as the graph's labels write it: without the batch dimension.
function perImage(value) { return Array.isArray(value) ? shape(value.slice(1)) : ""; }

// ----- views: built on svg-pan-zoom's own fit, center and zoom --------------------------------

function sizes() { return state.panZoom.getSizes(); }

// Scale the drawing to `scale` screen pixels per drawing unit, then show its start: the top
// centre going down the page, the left middle going across.
function showAt(scale) {
  const pz = state.panZoom;
  const s = sizes();
  pz.zoom(pz.getZoom() * scale / s.realZoom);
  const vb = s.viewBox;
  const across = state.args.direction === "LR";
  const x = across ? 8 - scale * vb.x : (s.width - scale * vb.width) / 2 - scale * vb.x;
  const y = across ? (s.height - scale * vb.height) / 2 - scale * vb.y : 8 - scale * vb.y;
  pz.pan({x, y});
}

function fitWidth() { const s = sizes(); showAt(s.width / s.viewBox.width); }
function fitHeight() { const s = sizes(); showAt(s.height / s.viewBox.height); }
function fitPage() { state.panZoom.fit(); state.panZoom.center(); }

// Actual size, unless the drawing's narrow side would then overflow the frame.
function actualSize() {
  const s = sizes();
  const limit = state.args.direction === "LR" ? s.height / s.viewBox.height
                                               : s.width / s.viewBox.width;
  showAt(Math.min(1, limit));
}

// ----- overlays -------------------------------------------------------------------------------

function nodeShapes(group) {
  return group.querySelectorAll(":scope > path, :scope > polygon, :scope > ellipse, " +
                                ":scope > g > a > path, :scope > g > a > polygon, " +
                                ":scope > g > a > ellipse");
}

function applyOverlay() {
  const measure = state.overlay;
  const nodes = state.args.details.nodes;
  for (const group of $("graph").querySelectorAll("g.node")) {
    const info = nodes[group.id];
    for (const element of nodeShapes(group)) {
      if (!element.hasAttribute("data-fill")) {
        element.setAttribute("data-fill", element.getAttribute("fill") || "none");
      }
      const original = element.getAttribute("data-fill");
      const color = measure && info && info.colors[measure];
      element.setAttribute("fill", color || (measure && original !== "none" ? "#ffffff" : original));
    }
  }
  const legend = measure ? state.args.details.legends[measure] : null;
  $("legend").hidden = !legend;
  if (legend) {
    $("legend-low").textContent = compact(legend.low, measure);
    $("legend-high").textContent = compact(legend.high, measure);
    $("legend-bar").style.background = `linear-gradient(to right, ${legend.ramp.join(", ")})`;
    $("legend-scale").textContent = `${legend.scale} scale, ${legend.title}`;
    $("legend-zero-swatch").style.background = legend.zero_color;
  }
}

// ----- details --------------------------------------------------------------------------------

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// The details panel takes room from the graph only while a node is selected.
function setDetailsOpen(open) {
  const panel = $("details");
  if (panel.hidden === !open) return;
  panel.hidden = !open;
  if (state.panZoom) state.panZoom.resize();
}

function clearDetails() {
  state.selected = null;
  for (const group of $("graph").querySelectorAll("g.node.selected")) {
    group.classList.remove("selected");
  }
  $("details").replaceChildren();
  setDetailsOpen(false);
}

function showDetails(id) {
  const panel = $("details");
  const info = state.args.details.nodes[id];
  for (const group of $("graph").querySelectorAll("g.node.selected")) {
    group.classList.remove("selected");
  }
  const group = document.getElementById(id);
  if (group) group.classList.add("selected");
  state.selected = id;
  panel.replaceChildren();
  setDetailsOpen(true);
  const close = element("button", "\u00d7", "close");
  close.title = "Close the details";
  close.addEventListener("click", clearDetails);
  panel.append(close);
  if (!info) {
    panel.append(element("p", "No details for this node.", "muted"));
    return;
  }
  panel.append(element("h3", info.label.split("\n").join(" / ")));
  const list = element("dl");
  const facts = [
    ["module", info.module || "(none: computed in forward)"], ["kind", info.kind],
    ["stage", info.rows.length ? info.rows[0].stage : ""], ["output", shape(info.shape)],
    ["params", count(info.params)], ["mult-adds", count(info.mult_adds)],
    ["activations", info.activation_bytes == null ? "" : `${count(info.activation_bytes)} bytes`],
  ];
  for (const [name, value] of facts) {
    if (value === "") continue;
    list.append(element("dt", name), element("dd", value));
  }
  panel.append(list);
  if (info.versions) showVersions(panel, info.versions);
  if (info.marks && info.marks.length) {
    const findings = element("ul", null, "findings");
    for (const mark of info.marks) {
      const item = element("li");
      item.append(element("b", `${mark.severity}: `, `severity-${mark.severity}`),
                  document.createTextNode(mark.message));
      findings.append(item);
    }
    panel.append(element("p", `${info.marks.length} finding${info.marks.length === 1 ? "" : "s"}`, "muted"), findings);
  }
  if (info.folded_stage != null) {
    const open = element("button", "Unfold this stage");
    open.addEventListener("click", () => toggleStage(info.folded_stage));
    panel.append(open);
  }
  if (!info.rows.length) return;
  panel.append(element("p", `${info.rows.length} row${info.rows.length === 1 ? "" : "s"} of the layer table`, "muted"));
  const table = element("table");
  const head = element("tr");
  for (const title of ["layer", "type", "output", "params", "mult-adds"]) head.append(element("th", title));
  table.append(head);
  for (const row of info.rows.slice(0, MAX_ROWS)) {
    const tr = element("tr");
    tr.append(element("td", row.layer), element("td", row.type), element("td", perImage(row.output_shape)),
              element("td", count(row.params), "num"), element("td", count(row.mult_adds), "num"));
    table.append(tr);
  }
  panel.append(table);
  if (info.rows.length > MAX_ROWS) panel.append(element("p", `first ${MAX_ROWS} shown`, "muted"));
}

// A diff's node: both networks' versions of the block, side by side.
function showVersions(panel, versions) {
  const table = element("table", null, "versions");
  const head = element("tr");
  const names = state.args.details.names || {};
  for (const side of Object.keys(versions)) head.append(element("th", names[side] || side));
  table.append(head);
  const row = element("tr");
  for (const lines of Object.values(versions)) {
    const cell = element("td");
    lines.forEach((line, index) => {
      cell.append(element(index ? "div" : "b", line));
    });
    row.append(cell);
  }
  table.append(row);
  panel.append(table);
}

// ----- the overview: a small copy of a drawing taller (or wider) than the frame ---------------

const MINIMAP_PX = 260;  // the overview's long side, at most
const MINIMAP_SHORT = 44;  // its short side, at least
const MINIMAP_ABOVE = 1.5;  // shown when the drawing is this many frames long at its zoom

function buildMinimap(svg) {
  const box = $("minimap");
  for (const old of box.querySelectorAll("svg")) old.remove();
  const clone = svg.cloneNode(true);
  for (const element of clone.querySelectorAll("[id]")) element.removeAttribute("id");
  clone.removeAttribute("width");
  clone.removeAttribute("height");
  box.prepend(clone);
  const vb = svg.viewBox.baseVal;
  state.minimap = {x: vb.x, y: vb.y, width: vb.width, height: vb.height};
}

function updateMinimap() {
  const map = state.minimap;
  const box = $("minimap");
  if (!map || !state.panZoom) return;
  const s = sizes();
  const across = state.args.direction === "LR";
  const long = across ? s.realZoom * map.width / s.width : s.realZoom * map.height / s.height;
  box.hidden = long < MINIMAP_ABOVE;
  if (box.hidden) return;
  const {scale, dx, dy} = minimapScale();
  box.style.width = `${map.width * scale + 2 * dx}px`;
  box.style.height = `${map.height * scale + 2 * dy}px`;
  // The frame's corners in the drawing's units, then in the overview's pixels.
  const pan = state.panZoom.getPan();
  const left = -pan.x / s.realZoom, top = -pan.y / s.realZoom;
  const view = $("minimap-view");
  view.style.left = `${dx + (left - map.x) * scale}px`;
  view.style.top = `${dy + (top - map.y) * scale}px`;
  view.style.width = `${s.width / s.realZoom * scale}px`;
  view.style.height = `${s.height / s.realZoom * scale}px`;
}

// The overview's scale (pixels per drawing unit) and the margins that keep a long, thin
// drawing's overview wide (or tall) enough to point at.
function minimapScale() {
  const map = state.minimap;
  const long = Math.min(MINIMAP_PX, sizes().height - 16);
  const scale = long / Math.max(map.width, map.height);
  return {scale, dx: Math.max(0, (MINIMAP_SHORT - map.width * scale) / 2),
          dy: Math.max(0, (MINIMAP_SHORT - map.height * scale) / 2)};
}

// Centre the view on the point of the overview under the pointer.
function panFromMinimap(event) {
  const map = state.minimap;
  const rect = $("minimap").getBoundingClientRect();
  const {scale, dx, dy} = minimapScale();
  const x = map.x + (event.clientX - rect.left - dx) / scale;
  const y = map.y + (event.clientY - rect.top - dy) / scale;
  const s = sizes();
  state.panZoom.pan({x: s.width / 2 - s.realZoom * x, y: s.height / 2 - s.realZoom * y});
}

// ----- the page's link ------------------------------------------------------------------------

async function copyLink() {
  const url = window.parent.location.href;
  let copied = false;
  try {
    await navigator.clipboard.writeText(url);
    copied = true;
  } catch (error) {  // no clipboard permission in this frame: select the text for the user
    const area = element("textarea");
    area.value = url;
    document.body.append(area);
    area.select();
    copied = document.execCommand("copy");
    area.remove();
  }
  $("copy-link").dataset.link = url;
  $("copy-said").textContent = copied ? "Link copied" : url;
}

// ----- search ---------------------------------------------------------------------------------

function search(text) {
  const query = text.trim().toLowerCase();
  for (const group of $("graph").querySelectorAll("g.node.match")) group.classList.remove("match");
  state.matches = [];
  state.matchIndex = -1;
  if (query) {
    const nodes = state.args.details.nodes;
    for (const group of $("graph").querySelectorAll("g.node")) {
      const info = nodes[group.id];
      const haystack = info ? `${info.id}\n${info.label}\n${info.module || ""}` : group.textContent;
      if (haystack.toLowerCase().includes(query)) {
        group.classList.add("match");
        state.matches.push(group);
      }
    }
  }
  $("search-count").textContent = query ? `${state.matches.length} match${state.matches.length === 1 ? "" : "es"}` : "";
  showHidden(query);
  step(1);
  report();
}

// Matches inside folded stages are not in the drawing: say how many, and offer to unfold.
function showHidden(query) {
  const box = $("search-hidden");
  box.replaceChildren();
  const hidden = query ? (state.args.details.hidden || [])
    .map((stage) => ({...stage, count: stage.texts.filter((t) => t.toLowerCase().includes(query)).length}))
    .filter((stage) => stage.count > 0) : [];
  box.hidden = !hidden.length;
  for (const stage of hidden) {
    box.append(element("span", `${stage.count} more in folded ${stage.name}`, "muted"));
    const open = element("button", `Unfold ${stage.name}`);
    open.dataset.unfold = stage.stage;
    open.addEventListener("click", () => toggleStage(stage.stage));
    box.append(open);
  }
}

function step(direction) {
  if (!state.matches.length) return;
  state.matchIndex = (state.matchIndex + direction + state.matches.length) % state.matches.length;
  centreOn(state.matches[state.matchIndex]);
  $("search-count").textContent = `${state.matchIndex + 1} of ${state.matches.length}`;
}

// Pan so the group's centre sits in the frame's centre. The group's place is read in the
// drawing's own coordinates (its matrix relative to svg-pan-zoom's viewport, which does not depend
// on the current zoom), and the pan is absolute, so repeated calls land in the same place even
// before svg-pan-zoom has redrawn.
function centreOn(group) {
  const pz = state.panZoom;
  if (sizes().realZoom < READABLE_SCALE) pz.zoom(pz.getZoom() * READABLE_SCALE / sizes().realZoom);
  const viewport = $("graph").querySelector(".svg-pan-zoom_viewport");
  const toViewport = viewport.getCTM().inverse().multiply(group.getCTM());
  const box = group.getBBox();
  const svg = $("graph").querySelector("svg");
  const centre = svg.createSVGPoint();
  centre.x = box.x + box.width / 2;
  centre.y = box.y + box.height / 2;
  const at = centre.matrixTransform(toViewport);
  const s = sizes();
  pz.pan({x: s.width / 2 - s.realZoom * at.x, y: s.height / 2 - s.realZoom * at.y});
}

// ----- folding: the only action that needs Python (a new layout) ------------------------------

function canFold(stage) {
  return state.args.stages.some(([number]) => number === stage);
}

function toggleStage(stage) {
  state.focusStage = stage;  // after the new drawing arrives, show where the stage went
  const folded = new Set(currentFolded());
  if (folded.has(stage)) folded.delete(stage); else folded.add(stage);
  // Until the page draws it, the fold asked for is what any later report must carry.
  state.requestedFolded = [...folded].sort((a, b) => a - b);
  sendValue(currentValue());
}

// The stages folded as last asked, or as drawn when nothing is pending.
function currentFolded() {
  return state.requestedFolded || state.args.folded;
}

// ----- what the page keeps (folds always; colour and search where the page asks for them) ------

function currentValue() {
  return {graph: state.args.graph_key, folded: currentFolded(), colour: state.overlay,
          search: $("search").value};
}

function sendValue(value) {
  clearTimeout(reportTimer);  // this value carries whatever a pending report would
  state.sent = JSON.stringify(value);
  send(Message.VALUE, {value, dataType: "json"});
}

// The page puts colour and search in its link: tell it, once the typing has paused.
let reportTimer = null;
function report() {
  if (!state.args || !state.args.reports) return;
  clearTimeout(reportTimer);
  reportTimer = setTimeout(() => {
    const value = currentValue();
    if (JSON.stringify(value) !== state.sent) sendValue(value);
  }, 600);
}

// A link's colour and search, applied when the viewer first opens.
function applyInitial(args) {
  if (args.colour && [...$("overlay").options].some((o) => o.value === args.colour)) {
    $("overlay").value = args.colour;
    state.overlay = args.colour;
  }
  if (args.search) $("search").value = args.search;
  state.sent = JSON.stringify({graph: args.graph_key, folded: args.folded, colour: state.overlay,
                               search: $("search").value});
}

function drawStageButtons() {
  const bar = $("stages");
  bar.replaceChildren();
  if (!state.args.stages.length) {
    bar.append(element("span", HINT, "muted"));
    return;
  }
  bar.append(element("span", "Fold stages:", "muted"));
  for (const [stage, name] of state.args.stages) {
    const folded = state.args.folded.includes(stage);
    const button = element("button", folded ? `${name} (folded)` : name, folded ? "on" : "");
    button.title = folded ? `Unfold ${name}` : `Fold ${name} into one node`;
    button.dataset.stage = stage;
    button.addEventListener("click", () => toggleStage(stage));
    bar.append(button);
  }
  bar.append(element("span", `or click a stage's title in the graph. ${HINT}`, "muted"));
}

// ----- findings: each a link to its node ------------------------------------------------------

// Select a finding's node and centre it; a node folded away (a folded stage or a run of identical
// blocks) has no element, so the finding says so instead.
function showFinding(finding, item) {
  const group = finding.element && document.getElementById(finding.element);
  if (!group) {
    item.title = "Its node is folded away in this drawing: unfold the stage or turn folding off.";
    return;
  }
  showDetails(finding.element);  // first: opening the panel narrows the graph's frame
  centreOn(group);
  requestAnimationFrame(() => centreOn(group));  // once more, after the frame's new layout
}

function drawFindings() {
  const list = $("findings");
  const findings = state.args.details.findings || [];
  list.replaceChildren();
  list.hidden = !findings.length;
  for (const finding of findings) {
    const item = element("li", null, finding.element ? "linked" : "");
    item.dataset.element = finding.element || "";
    item.append(element("b", `${finding.severity}`, `severity-${finding.severity}`),
                document.createTextNode(` ${finding.where}: ${finding.message}`));
    if (finding.element) {
      item.title = "Click to select this node in the graph";
      item.addEventListener("click", () => showFinding(finding, item));
    }
    list.append(item);
  }
}

// ----- drawing --------------------------------------------------------------------------------

function onGraphClick(event, start) {
  if (!start || Math.hypot(event.clientX - start.x, event.clientY - start.y) > CLICK_SLOP_PX) return;
  const node = event.target.closest("g.node");
  const title = node && /^stage-title-(\d+)$/.exec(node.id);
  if (title) {
    if (canFold(Number(title[1]))) toggleStage(Number(title[1]));
  } else if (node) showDetails(node.id);
}

function draw(args) {
  const frame = $("graph");
  frame.style.height = `${args.height}px`;
  if (state.panZoom) state.panZoom.destroy();
  state.panZoom = null;
  frame.innerHTML = args.svg;  // Graphviz's own output for our graph; labels are escaped by it
  const svg = frame.querySelector("svg");
  performance.mark("viewer-parsed");
  buildMinimap(svg);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  state.panZoom = svgPanZoom(svg, {
    zoomEnabled: true, panEnabled: true, controlIconsEnabled: false, dblClickZoomEnabled: false,
    mouseWheelZoomEnabled: true, preventMouseEventsDefault: true, zoomScaleSensitivity: 0.25,
    minZoom: 0.01, maxZoom: 200, fit: true, center: true, onUpdatedCTM: updateMinimap,
  });
  // Only where this page folds stages does a stage's title offer to (underlined, with a hint).
  frame.classList.toggle("foldable", args.stages.length > 0);
  if (args.stages.length) {
    for (const title of frame.querySelectorAll('g.node[id^="stage-title-"] a')) {
      title.setAttributeNS("http://www.w3.org/1999/xlink", "title", "Click to fold this stage into one node");
    }
  }
  actualSize();
  focusStage(args);
  applyOverlay();
  if (state.selected && document.getElementById(state.selected)) showDetails(state.selected);
  else clearDetails();
  if ($("search").value) search($("search").value);
}

// The stage just folded (its node) or unfolded (its title), centred in the frame.
function focusStage(args) {
  const stage = state.focusStage;
  state.focusStage = null;
  if (stage == null) return;
  const folded = Object.entries(args.details.nodes).find(([, info]) => info.folded_stage === stage);
  const target = document.getElementById(folded ? folded[0] : `stage-title-${stage}`);
  if (target) centreOn(target);
}

// A page may add overlays of its own (the Train page: per-block statistics) and name the one the
// viewer opens on; their colours change while the drawing stays, so they are applied every time.
function offerOverlays(args) {
  const select = $("overlay");
  const known = new Set([...select.options].map((option) => option.value));
  for (const [measure, legend] of Object.entries(args.details.legends || {})) {
    if (known.has(measure)) continue;
    const option = document.createElement("option");
    option.value = measure;
    option.textContent = legend && legend.title ? legend.title.split(",")[0] : measure;
    select.append(option);
  }
  if (args.details.overlay && args.details.overlay !== state.pageOverlay) {
    state.pageOverlay = args.details.overlay;
    state.overlay = args.details.overlay;
    select.value = args.details.overlay;
  }
}

function render(args) {
  if (!state.args) applyInitial(args);
  // A fold asked for is settled once drawn, or dropped with its graph.
  if (state.requestedFolded && (!state.args || args.graph_key !== state.args.graph_key
      || JSON.stringify(args.folded) === JSON.stringify(state.requestedFolded))) {
    state.requestedFolded = null;
  }
  state.args = args;
  offerOverlays(args);
  const key = `${args.graph_key}|${args.drawing_key}`;
  if (key !== state.key) {
    // Marks for benchmarks/inspect_speed.py: when a new drawing arrived, was parsed, laid out
    // and painted (performance.timeOrigin + startTime compares across frames).
    performance.mark("viewer-received");
    state.key = key;
    draw(args);
    performance.mark("viewer-laid-out");
    requestAnimationFrame(() => requestAnimationFrame(() => performance.mark("viewer-painted")));
  } else {
    applyOverlay();
  }
  drawStageButtons();
  $("link-group").hidden = !args.reports;
  updateMinimap();
  drawFindings();
  setHeight();
}

function wire() {
  let start = null;
  const frame = $("graph");
  frame.addEventListener("pointerdown", (event) => { start = {x: event.clientX, y: event.clientY}; });
  frame.addEventListener("click", (event) => onGraphClick(event, start));
  $("zoom-in").addEventListener("click", () => state.panZoom.zoomIn());
  $("zoom-out").addEventListener("click", () => state.panZoom.zoomOut());
  $("fit-width").addEventListener("click", fitWidth);
  $("fit-height").addEventListener("click", fitHeight);
  $("fit-page").addEventListener("click", fitPage);
  $("actual").addEventListener("click", actualSize);
  $("search").addEventListener("input", (event) => search(event.target.value));
  $("search").addEventListener("keydown", (event) => {
    if (event.key === "Enter") step(event.shiftKey ? -1 : 1);
  });
  $("copy-link").addEventListener("click", copyLink);
  let dragging = false;
  $("minimap").addEventListener("pointerdown", (event) => {
    dragging = true;
    $("minimap").setPointerCapture(event.pointerId);
    panFromMinimap(event);
  });
  $("minimap").addEventListener("pointermove", (event) => { if (dragging) panFromMinimap(event); });
  $("minimap").addEventListener("pointerup", () => { dragging = false; });
  $("search-next").addEventListener("click", () => step(1));
  $("search-prev").addEventListener("click", () => step(-1));
  $("overlay").addEventListener("change", (event) => {
    state.overlay = event.target.value;
    applyOverlay();
    report();
  });
  window.addEventListener("message", (event) => {
    if (event.data && event.data.type === Message.RENDER) render(event.data.args);
  });
  window.addEventListener("resize", () => { if (state.panZoom) { state.panZoom.resize(); } });
  send(Message.READY, {apiVersion: 1});
}

wire();
