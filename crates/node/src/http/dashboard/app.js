// npchain dashboard: plain JavaScript over the node's own HTTP API. No framework, no build step.
// The admin token lives in this tab's sessionStorage and is sent only as `Authorization: Bearer`
// to the operator routes; it is never put in a URL.
"use strict";

const TOKEN_KEY = "npchain-admin-token";
const STATUS_EVERY_MS = 5000;
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  operator: null, // this node's operator, from /v1/status
  session: null, // {operator, reject_reasons} once logged in
  orders: new Map(), // port id -> order JSON, in the current filter
  events: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// One call to the API: {ok, status, body}; a refusal's body is {error, message}.
async function call(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
  let response;
  try {
    response = await fetch(path, opts);
  } catch (e) {
    return { ok: false, status: 0, body: { error: "unreachable", message: "the node did not answer: " + e } };
  }
  let body = null;
  const text = await response.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = { error: "not_json", message: text.slice(0, 300) };
  }
  return { ok: response.ok, status: response.status, body };
}

function refusal(r) {
  if (r.body && r.body.message) return r.body.message + " (" + r.status + " " + r.body.error + ")";
  return "HTTP " + r.status;
}

function announce(text) {
  const line = el("p", { text });
  const region = $("announce");
  region.append(line);
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

function time(ms) {
  if (!ms) return "–";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function short(id) {
  return id ? id.slice(0, 12) + "…" : "–";
}

function idCell(id) {
  return el("td", {}, el("code", { title: id, text: short(id) }), el("span", { class: "visually-hidden", text: " " + id }));
}

function countdown(ms) {
  const left = ms - Date.now();
  const abs = Math.abs(left);
  const h = Math.floor(abs / 3600000);
  const m = Math.floor((abs % 3600000) / 60000);
  const s = Math.floor((abs % 60000) / 1000);
  const text = (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  return left >= 0 ? "in " + text : "passed " + text + " ago";
}

// ---- network status ----------------------------------------------------------------------

async function refreshStatus() {
  const r = await call("/v1/status");
  if (!r.ok) {
    $("st-halted").hidden = false;
    $("st-halted").textContent = "Status unavailable: " + refusal(r);
    return;
  }
  const s = r.body;
  $("st-height").textContent = s.height + (s.behind ? " (" + s.behind + " behind)" : "");
  $("st-time").textContent = time(s.block_time_ms);
  $("st-epoch").textContent = s.epoch + " (" + s.blocks_per_epoch + " blocks each)";
  $("st-hash").textContent = s.state_hash;
  $("st-mempool").textContent = s.mempool + " transactions";
  $("st-halted").hidden = !s.halted;
  if (s.halted) $("st-halted").textContent = "This node stopped applying blocks: " + s.halted;
  const peers = $("peers").tBodies[0];
  peers.replaceChildren(
    ...s.peers.map((p) => el("tr", {}, el("td", { text: p.operator || "–" }), el("td", { text: p.address }), idCell(p.key)))
  );
  if (s.operator !== state.operator) {
    state.operator = s.operator;
    $("node-operator").textContent = s.operator ? "of " + s.operator : "(observer)";
    $("orders-operator").textContent = s.operator || "this operator (an observer has none)";
    await refreshOrders();
    openStream();
  }
  refreshValidators();
  refreshPeers(s.peers.length);
}

async function refreshValidators() {
  const r = await call("/v1/validators");
  if (!r.ok) return;
  const v = r.body;
  $("validators-caption").textContent =
    "Validators of epoch " + v.epoch + " and the pending set (live: signed one of the last " + v.live_window + " blocks)";
  $("validators").tBodies[0].replaceChildren(
    ...v.validators.map((x) =>
      el(
        "tr",
        { dataset: { key: x.key } },
        el("td", { text: x.operator || "–" }),
        idCell(x.key),
        el("td", { text: [x.current ? "current" : null, x.pending ? "pending" : null].filter(Boolean).join(", ") }),
        el("td", { text: x.last_signed_height === null ? "not seen" : String(x.last_signed_height) }),
        el("td", { text: time(x.last_signed_time_ms) }),
        el("td", { class: x.live ? "live-yes" : "live-no", text: x.live ? "live" : "not live" })
      )
    )
  );
}

// Connected peers, from the p2p layer's gauge in /metrics.
async function refreshPeers(configured) {
  let text = "";
  try {
    const response = await fetch("/metrics");
    text = await response.text();
  } catch (_) {
    return;
  }
  const line = text.split("\n").find((l) => /^\S*p2p_tracker_directory_connected(\{[^}]*\})? /.test(l));
  const connected = line ? Number(line.trim().split(/\s+/).pop()) : NaN;
  $("st-peers").textContent = Number.isFinite(connected) ? connected + " of " + configured : "unknown (" + configured + " configured)";
}

// ---- the admin login ---------------------------------------------------------------------

async function login(candidate) {
  const r = await call("/v1/operator", { headers: { Authorization: "Bearer " + candidate } });
  if (!r.ok) {
    $("login-state").textContent = "Refused: " + refusal(r);
    $("login-state").className = "alert";
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, candidate);
  state.session = r.body;
  $("login-state").textContent = "Logged in as " + (r.body.operator || "this node") + ": actions are shown.";
  $("login-state").className = "";
  $("logout").hidden = false;
  $("login-form").hidden = true;
  renderOrders();
  return true;
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.session = null;
  $("token").value = "";
  $("logout").hidden = true;
  $("login-form").hidden = false;
  $("login-state").textContent = "Logged out: release, reject and activate need the node's admin token.";
  $("login-state").className = "";
  renderOrders();
  $("token").focus();
}

// ---- orders ------------------------------------------------------------------------------

function filterState() {
  return $("state-filter").value;
}

function matchesFilter(order) {
  const f = filterState();
  if (!f) return true;
  if (f === "open") return order.open;
  return order.state === f;
}

async function refreshOrders() {
  if (!state.operator) {
    state.orders.clear();
    renderOrders();
    return;
  }
  let path = "/v1/ports?limit=200&operator=" + encodeURIComponent(state.operator);
  if (filterState()) path += "&state=" + encodeURIComponent(filterState());
  const r = await call(path);
  if (!r.ok) {
    $("action-result").textContent = "Orders unavailable: " + refusal(r);
    return;
  }
  state.orders = new Map(r.body.ports.map((p) => [p.id, p]));
  renderOrders(r.body.next);
}

// The deadline an order waits for now: the donor's answer while requested, the activation
// while released.
function nextDeadline(o) {
  if (o.state === "requested") return { what: "donor answer", ms: o.donor_deadline_ms };
  if (o.state === "released") return { what: "activation", ms: o.activation_deadline_ms };
  return null;
}

function actionForm(o) {
  if (!state.session || !o.open) return [];
  const me = state.session.operator || state.operator;
  const forms = [];
  const button = (label, action, extra) =>
    el("button", { type: "button", dataset: Object.assign({ action, port: o.id }, extra || {}), text: label });
  if (o.donor === me && o.state === "requested") {
    forms.push(button("Release", "release"));
    const selectId = "reason-" + o.id;
    const select = el("select", { id: selectId });
    for (const r of state.session.reject_reasons) select.append(el("option", { value: r.code, text: r.code + ": " + r.text }));
    forms.push(
      el(
        "form",
        { class: "reject", dataset: { port: o.id } },
        el("label", { for: selectId, class: "visually-hidden", text: "Reason to reject " + o.id }),
        select,
        button("Reject", "reject")
      )
    );
  }
  if (o.recipient === me && o.state === "released") forms.push(button("Activate", "activate"));
  return forms;
}

function orderRow(o) {
  const me = state.operator;
  const role = o.donor === me ? "donor" : o.recipient === me ? "recipient" : "–";
  const other = o.donor === me ? o.recipient : o.donor;
  const due = nextDeadline(o);
  const deadline = due
    ? el("td", {}, el("span", { text: due.what + " " }), el("time", { datetime: new Date(due.ms).toISOString(), dataset: { deadline: due.ms }, text: countdown(due.ms) }))
    : el("td", { text: "–" });
  const reason = o.history.length ? o.history[o.history.length - 1].reason : null;
  const badge = el("span", { class: "badge", dataset: { state: o.state }, text: o.state + (reason ? " (" + reason + ")" : "") });
  return el(
    "tr",
    { id: "order-" + o.id, dataset: { port: o.id, state: o.state } },
    idCell(o.id),
    el("td", { class: "state" }, badge),
    el("td", { text: role }),
    el("td", { text: o.numbers.join(", ") }),
    el("td", { text: other }),
    deadline,
    el("td", { class: "actions" }, ...actionForm(o))
  );
}

function renderOrders(next) {
  const rows = [...state.orders.values()].filter(matchesFilter).map(orderRow);
  $("orders-table").tBodies[0].replaceChildren(...rows);
  const f = filterState() || "any state";
  $("orders-caption").textContent =
    rows.length + " order(s) in " + f + (next ? " (the first 200; more exist)" : "") + (state.session ? "" : "; log in to act");
  tick();
}

function tick() {
  for (const t of document.querySelectorAll("time[data-deadline]")) {
    const ms = Number(t.dataset.deadline);
    t.textContent = countdown(ms);
    t.classList.toggle("overdue", ms < Date.now());
  }
}

async function act(port, action, reason) {
  const t = token();
  if (!t) return;
  const init = { method: "POST", headers: { Authorization: "Bearer " + t } };
  if (action === "reject") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify({ reason });
  }
  $("action-result").textContent = action + " of " + short(port) + ": sending…";
  const r = await call("/v1/operator/ports/" + encodeURIComponent(port) + "/" + action, init);
  if (r.ok) {
    $("action-result").textContent =
      action + " of " + short(port) + " submitted as transaction " + short(r.body.id) + "; the order changes when its block commits.";
  } else {
    $("action-result").textContent = action + " of " + short(port) + " refused: " + refusal(r);
    if (r.body && r.body.error === "wrong_token") logout();
  }
}

async function updateOrder(id, height) {
  const r = await call("/v1/ports/" + encodeURIComponent(id));
  if (!r.ok) return;
  const o = r.body;
  const before = state.orders.get(id);
  state.orders.set(id, o);
  renderOrders();
  if (!before || before.state !== o.state) announce("Order " + short(id) + " is now " + o.state + " (block " + height + ").");
}

// ---- the event stream --------------------------------------------------------------------

function openStream() {
  if (state.events) state.events.close();
  const path = "/v1/events" + (state.operator ? "?operator=" + encodeURIComponent(state.operator) : "");
  const es = new EventSource(path);
  state.events = es;
  const shown = (s, text) => {
    $("stream-state").dataset.state = s;
    $("stream-state").textContent = "Live updates: " + text;
  };
  es.onopen = () => shown("open", "on");
  es.onerror = () => shown(es.readyState === EventSource.CLOSED ? "error" : "connecting", es.readyState === EventSource.CLOSED ? "stopped" : "reconnecting");
  es.addEventListener("port", (e) => {
    const env = JSON.parse(e.data);
    updateOrder(env.port, env.height);
    refreshStatus();
  });
  for (const kind of ["bound", "returned", "validator_set_changed"]) es.addEventListener(kind, () => refreshStatus());
}

// ---- number lookup -----------------------------------------------------------------------

function describe(entry) {
  switch (entry.type) {
    case "migrated":
      return "migrated at genesis as ported to " + entry.to;
    case "bound":
      return entry.subscriber ? "subscriber key bound by " + entry.by : "subscriber key unbound by " + entry.by;
    case "returned":
      return "returned by " + entry.from + " to " + entry.to;
    case "port":
      return "port " + entry.step + (entry.deemed ? " (deemed, by the donor's silence)" : "") + (entry.reason ? " (" + entry.reason + ")" : "");
    default:
      return entry.type;
  }
}

async function lookup(number) {
  const err = $("lookup-error");
  const path = "/v1/numbers/" + encodeURIComponent(number);
  const [route, history] = await Promise.all([call(path), call(path + "/history")]);
  if (!route.ok) {
    err.hidden = false;
    err.textContent = refusal(route);
    $("lookup-result").hidden = true;
    return;
  }
  err.hidden = true;
  const x = route.body;
  $("lk-number").textContent = x.number + " (height " + x.height + ")";
  $("lk-serving").textContent = x.serving + (x.range_holder && x.range_holder !== x.serving ? " (range holder " + x.range_holder + ")" : "");
  $("lk-rn").textContent = x.routing_number;
  $("lk-ported").textContent = x.ported ? "yes" : "no";
  $("lk-range").textContent = x.range || "–";
  $("lk-open").textContent = x.open_port ? short(x.open_port) : "none";
  const n = x.naptr;
  $("lk-naptr").textContent = n
    ? [n.order, n.preference, '"' + n.flags + '"', '"' + n.service + '"', '"' + n.regexp + '"', n.replacement].join(" ")
    : "–";
  const rows = history.ok
    ? history.body.entries.map((h) => el("tr", {}, el("td", { text: time(h.time_ms) }), el("td", { text: describe(h) }), h.port ? idCell(h.port) : el("td", { text: "–" })))
    : [el("tr", {}, el("td", { colspan: 3, text: "history unavailable: " + refusal(history) }))];
  $("history").tBodies[0].replaceChildren(...rows);
  $("lookup-result").hidden = false;
}

// ---- statistics --------------------------------------------------------------------------

const SERIES = [
  ["requested", "requested"],
  ["completed", "completed"],
  ["rejected_total", "rejected"],
  ["cancelled", "cancelled"],
  ["expired", "expired"],
];

function legend(names) {
  return el("ul", { class: "legend", "aria-hidden": "true" }, ...names.map((n, i) => el("li", {}, el("span", { class: "swatch s" + i }), n)));
}

// A grouped bar chart: one group per row, one bar per series, each bar labelled with its value.
function barChart(rows, series, title) {
  const W = 900, H = 260, left = 40, bottom = 40, top = 10;
  const max = Math.max(1, ...rows.flatMap((r) => series.map(([k]) => Number(r[k]) || 0)));
  const groupW = (W - left) / Math.max(1, rows.length);
  const barW = Math.max(2, (groupW * 0.8) / series.length);
  const chart = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
  chart.append(svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#333" }));
  chart.append(svg("text", { x: 2, y: top + 10 }, String(max)));
  chart.append(svg("text", { x: 2, y: H - bottom }, "0"));
  rows.forEach((r, i) => {
    const x0 = left + i * groupW + groupW * 0.1;
    series.forEach(([k], j) => {
      const v = Number(r[k]) || 0;
      const h = ((H - bottom - top) * v) / max;
      chart.append(svg("rect", { class: "s" + j, x: x0 + j * barW, y: H - bottom - h, width: barW - 1, height: h }, svg("title", {}, r.period + " " + k + ": " + v)));
    });
    chart.append(svg("text", { x: x0, y: H - bottom + 14 }, r.period));
  });
  return chart;
}

// A line chart of activation times (median and p95, seconds), one point per row.
function lineChart(rows, title) {
  const W = 900, H = 220, left = 50, bottom = 30, top = 10;
  const vals = rows.map((r) => r.activation_ms || {});
  const max = Math.max(1, ...vals.flatMap((v) => [v.median || 0, v.p95 || 0]));
  const x = (i) => left + (rows.length < 2 ? (W - left) / 2 : (i * (W - left - 10)) / (rows.length - 1));
  const y = (v) => H - bottom - ((H - bottom - top) * v) / max;
  const chart = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
  chart.append(svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#333" }));
  chart.append(svg("text", { x: 2, y: top + 10 }, (max / 1000).toFixed(1) + " s"));
  ["median", "p95"].forEach((k, j) => {
    const pts = vals.map((v, i) => (v.count ? [x(i), y(v[k] || 0)] : null)).filter(Boolean);
    if (!pts.length) return;
    const d = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    const attrs = { class: "line s" + j, d };
    if (j) attrs["stroke-dasharray"] = "6 4";
    chart.append(svg("path", attrs));
    for (const p of pts) chart.append(svg("circle", { cx: p[0], cy: p[1], r: 3, class: "s" + j }));
  });
  rows.forEach((r, i) => chart.append(svg("text", { x: x(i) - 20, y: H - 8 }, r.period)));
  return chart;
}

function dataTable(caption, head, rows) {
  return el(
    "table",
    {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c, i) => (i === 0 ? el("th", { scope: "row", text: c }) : el("td", { text: String(c) }))))))
  );
}

function renderStats(s) {
  const rows = s.rows || [];
  const box = $("stats-charts");
  const total = s.total || {};
  const summary =
    "From " + (s.from || "the start") + " to " + (s.to || "now") + (s.operator ? " for " + s.operator : "") + ", by " + s.period + ": " +
    SERIES.map(([k, n]) => (total[k] || 0) + " " + n).join(", ") + ".";
  const counts = el(
    "figure",
    {},
    legend(SERIES.map(([, n]) => n)),
    barChart(rows, SERIES, "Ports per " + s.period + ": " + summary),
    el("figcaption", { text: "Ports per " + s.period + ". " + summary })
  );
  const countTable = dataTable(
    "Ports per " + s.period,
    ["period"].concat(SERIES.map(([, n]) => n), ["deemed released", "deemed rejected", "numbers ported"]),
    rows.map((r) => [r.period].concat(SERIES.map(([k]) => r[k] || 0), [r.deemed_released || 0, r.deemed_rejected || 0, r.numbers_ported || 0]))
  );
  const act = total.activation_ms || {};
  const times = el(
    "figure",
    {},
    legend(["median", "p95 (dashed)"]),
    lineChart(rows, "Request to activation, median and p95"),
    el("figcaption", { text: "Time from request to activation (median solid, p95 dashed). Over the whole range: " + (act.count || 0) + " activations, median " + ((act.median || 0) / 1000).toFixed(1) + " s, p95 " + ((act.p95 || 0) / 1000).toFixed(1) + " s." })
  );
  const reasons = new Set(rows.flatMap((r) => Object.keys(r.rejected || {})));
  const reasonTable = dataTable(
    "Rejections by reason",
    ["period"].concat([...reasons]),
    rows.map((r) => [r.period].concat([...reasons].map((k) => (r.rejected || {})[k] || 0)))
  );
  const pairs = dataTable(
    "Donor to recipient",
    ["donor → recipient", "requested", "completed"],
    (s.pairs || []).map((p) => [p.donor + " → " + p.recipient, p.requested, p.completed])
  );
  box.replaceChildren(counts, countTable, times, reasonTable, pairs);
}

// The route needs a range: without one, the last 30 days (UTC) up to today.
function defaultRange() {
  const day = (ms) => new Date(ms).toISOString().slice(0, 10);
  if (!$("stats-to").value) $("stats-to").value = day(Date.now());
  if (!$("stats-from").value) $("stats-from").value = day(Date.now() - 29 * 86400000);
}

async function refreshStats() {
  defaultRange();
  const params = new URLSearchParams();
  for (const name of ["period", "from", "to", "operator"]) {
    const v = $("stats-" + name).value.trim();
    if (v) params.set(name, v);
  }
  const r = await call("/v1/stats?" + params.toString());
  const err = $("stats-error");
  if (!r.ok) {
    err.hidden = false;
    err.textContent = r.status === 404 && r.body && r.body.error === "not_found" ? "This node serves no statistics." : refusal(r);
    return;
  }
  err.hidden = true;
  renderStats(r.body);
}

// ---- wiring ------------------------------------------------------------------------------

function start() {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const candidate = $("token").value.trim();
    $("token").value = "";
    if (candidate) await login(candidate);
  });
  $("logout").addEventListener("click", logout);
  $("state-filter").addEventListener("change", refreshOrders);
  $("orders-filter").addEventListener("submit", (e) => e.preventDefault());
  $("orders-table").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    e.preventDefault();
    const reason = b.dataset.action === "reject" ? $("reason-" + b.dataset.port).value : null;
    act(b.dataset.port, b.dataset.action, reason);
  });
  $("orders-table").addEventListener("submit", (e) => e.preventDefault());
  $("lookup-form").addEventListener("submit", (e) => {
    e.preventDefault();
    lookup($("number").value.trim());
  });
  $("stats-form").addEventListener("submit", (e) => {
    e.preventDefault();
    refreshStats();
  });
  const saved = token();
  if (saved) login(saved);
  refreshStatus();
  refreshStats();
  setInterval(refreshStatus, STATUS_EVERY_MS);
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", start);
