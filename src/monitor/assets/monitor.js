// The live call monitor. Calls come from /calls, then live from /monitor/events (server-sent events). Every
// text from a call is set with textContent, never parsed as HTML.
"use strict";

// Latency budgets in milliseconds: past `slow` an answer is flagged slow; past `limit` it is over Vapi's own
// limit for that request (Vapi gives up or speaks a failure). See README, "Live call monitor".
const BUDGETS = {
  tool: { slow: 2000, limit: 20000 },        // Vapi's server timeout is 20 s; `hang` fires after ~5 s of silence
  knowledge: { slow: 1000, limit: 10000 },   // custom knowledge base: "up to 10 seconds"
  route: { slow: 1000, limit: 7500 },        // assistant-request: 7.5 s end to end, fixed
  endpointing: { slow: 300, limit: 20000 },  // on every user transcript: it delays the turn's end
  voice: { slow: 500, limit: 20000 },        // time to first audio byte; voice.server.timeoutSeconds 20 s
};
const MAX_ROWS = 1000; // timeline rows kept per call

const calls = new Map();     // id -> {id, status, customer, startedAtMs, turns, instance, firstAtMs, lastAtMs, endedAtMs}
const timelines = new Map(); // id -> [event]
let selected = null;
let lastId = 0;

const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
};

if (new URLSearchParams(location.search).has("token")) {
  // The cookie now holds the token: keep it out of the address bar and history.
  history.replaceState(null, "", location.pathname);
}

let loadTimer = null;
let lastLoadMs = 0;
// Reloads the listing soon: once for a burst of events, and at most every 2 s however busy the server (the
// listing reads recently ended calls' reports from the store). Events do not carry the customer or the turns.
function scheduleLoad() {
  if (loadTimer !== null) return;
  const wait = Math.max(300, lastLoadMs + 2000 - Date.now());
  loadTimer = setTimeout(() => { loadTimer = null; lastLoadMs = Date.now(); loadCalls(); }, wait);
}

// The call's entry; a call first seen in an event has the listing reloaded for its customer and turns.
function call(id, listed = false) {
  let entry = calls.get(id);
  if (!entry) {
    entry = { id, status: "live", customer: null, startedAtMs: null, turns: 0, instance: null };
    calls.set(id, entry);
    if (!listed) scheduleLoad();
  }
  return entry;
}

async function loadCalls() {
  try {
    const response = await fetch("/calls?limit=200", { credentials: "same-origin" });
    if (!response.ok) throw new Error(response.status);
    const body = await response.json();
    // Recently ended calls: listed from their end-of-call reports once their actors retired.
    for (const ended of body.ended || []) {
      const entry = call(ended.id, true);
      entry.status = "ended";
      entry.instance = ended.instance || entry.instance;
      entry.reportSeconds = ended.durationSeconds ?? entry.reportSeconds;
      entry.endedAtMs = entry.endedAtMs || ended.receivedAtMs;
    }
    for (const summary of body.calls || []) {
      const entry = call(summary.id, true);
      entry.status = summary.status || entry.status;
      entry.customer = summary.customer || entry.customer;
      entry.startedAtMs = summary.startedAtMs || entry.startedAtMs;
      entry.turns = summary.turns ?? entry.turns;
      entry.instance = summary.instance || entry.instance;
    }
    renderCalls();
  } catch (error) {
    setConnection("cannot list calls (" + error.message + ")", "down");
  }
}

function apply(event) {
  if (event.id <= lastId) return; // already applied (a replay after a reconnect)
  lastId = event.id;
  const entry = call(event.callId || "(no call)");
  if (event.instance) entry.instance = event.instance;
  if (!entry.firstAtMs) entry.firstAtMs = event.atMs;
  entry.lastAtMs = event.atMs;
  if (event.kind === "status") {
    entry.status = event.status;
    if (event.status === "ended") entry.endedAtMs = event.atMs;
    scheduleLoad();
  }
  if (event.kind === "transcript" && event.final) entry.turns += 1;
  if (event.kind === "report") entry.status = "ended";
  let timeline = timelines.get(entry.id);
  if (!timeline) timelines.set(entry.id, (timeline = []));
  timeline.push(event);
  if (timeline.length > MAX_ROWS) timeline.splice(0, timeline.length - MAX_ROWS);
  if (selected === null) select(entry.id);
  else if (selected === entry.id) appendRow(event);
  renderCalls();
}

const SIX_HOURS_MS = 6 * 3600 * 1000;

// The call's start by Vapi's clock when it agrees with this server's (a replayed call keeps its recorded
// times), else the first event seen; its end when it ended, else now.
function duration(entry) {
  if (typeof entry.reportSeconds === "number" && !entry.firstAtMs) return minutesSeconds(entry.reportSeconds);
  let start = entry.startedAtMs;
  if (!start || (entry.firstAtMs && Math.abs(start - entry.firstAtMs) > SIX_HOURS_MS)) start = entry.firstAtMs;
  if (!start) return "";
  const ended = entry.status === "ended";
  const end = ended ? entry.endedAtMs || entry.lastAtMs : Date.now();
  if (!end) return "";
  return minutesSeconds((end - start) / 1000);
}

function minutesSeconds(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
}

function renderCalls() {
  const filter = $("filter").value.trim().toLowerCase();
  const body = document.querySelector("#calls tbody");
  const rows = [];
  const instances = new Set();
  const sorted = [...calls.values()].sort((a, b) => (b.startedAtMs || 0) - (a.startedAtMs || 0));
  for (const entry of sorted) {
    if (entry.instance) instances.add(entry.instance);
    const haystack = [entry.id, entry.customer, entry.status, entry.instance].join(" ").toLowerCase();
    if (filter && !haystack.includes(filter)) continue;
    const row = el("tr", entry.id === selected ? "selected" : "");
    row.dataset.callId = entry.id;
    row.append(el("td", "id", entry.id), el("td", "instance-col", entry.instance || ""));
    const status = el("td");
    status.append(el("span", "status " + cssName(entry.status), entry.status));
    row.append(status, el("td", "", entry.customer || ""), el("td", "", duration(entry)), el("td", "", entry.turns));
    row.addEventListener("click", () => select(entry.id));
    rows.push(row);
  }
  body.replaceChildren(...rows);
  // The instance column only tells calls apart when several instances share the store.
  $("calls").classList.toggle("instances", instances.size > 1);
  $("no-calls").hidden = calls.size > 0;
}

function select(id) {
  selected = id;
  $("call-title").textContent = id;
  $("context-button").disabled = false;
  $("context").hidden = true;
  $("timeline").replaceChildren();
  partialRows.clear();
  for (const event of timelines.get(id) || []) appendRow(event);
  renderCalls();
}

// A class name from a value the caller chose (a role): classList.add throws on spaces or an empty string,
// which would leave the rest of the call's timeline unshown.
function cssName(value) {
  return String(value).replace(/[^a-z-]/gi, "") || "other";
}

function clock(atMs) {
  const d = new Date(atMs);
  return d.toTimeString().slice(0, 8);
}

function flag(row, kind, latencyMs) {
  const budget = BUDGETS[kind];
  if (!budget || latencyMs === undefined || latencyMs === null) return null;
  if (latencyMs > budget.limit) { row.classList.add("over"); return "over Vapi's limit"; }
  if (latencyMs > budget.slow) { row.classList.add("slow"); return "slow"; }
  return null;
}

function json(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function describe(event) {
  const body = el("div", "body");
  switch (event.kind) {
    case "transcript": body.textContent = event.text; break;
    case "speech": body.textContent = event.role + " " + event.status + " speaking"; break;
    case "interruption": body.textContent = "the user interrupted the assistant"; break;
    case "status": body.textContent = event.status + (event.endedReason ? " (" + event.endedReason + ")" : ""); break;
    case "tool": {
      body.append(el("strong", "", event.name + "(" + json(event.arguments) + ")"));
      if (event.dedup) body.append(el("span", "flag", "dedup: " + event.dedup));
      body.append(el("pre", "", event.error ? "error: " + event.error : event.result));
      break;
    }
    case "knowledge": {
      body.textContent = "query: " + (event.query || "(none)");
      const docs = el("ol", "docs");
      for (const doc of event.documents) docs.append(el("li", "", doc.similarity.toFixed(3) + " " + doc.content));
      if (!event.documents.length) docs.append(el("li", "", "no document"));
      body.append(docs);
      break;
    }
    case "route": body.textContent = event.decision + " → " + (event.target || "Vapi's default"); break;
    case "endpointing": {
      const p = event.completeProbability === undefined ? "" : ", P(complete) " + event.completeProbability.toFixed(2);
      body.textContent = "wait " + event.timeoutSeconds.toFixed(2) + " s (" + event.reasons.join(", ") + p + ", " + event.language + ")";
      break;
    }
    case "voice": body.textContent = "“" + event.text + "” " + (event.voiceId || "") + " → " + event.status; break;
    case "transfer": body.textContent = "transferred to " + json(event.destination || "?"); break;
    case "hang": body.textContent = "the assistant has not answered for a while"; break;
    case "report": body.textContent = "end-of-call report: " + (event.endedReason || "") + (event.summary ? " — " + event.summary : ""); break;
    default: body.textContent = json(event);
  }
  return body;
}

function label(event) {
  switch (event.kind) {
    case "transcript": return event.role + (event.final ? "" : " …");
    case "tool": return "tool";
    case "knowledge": return "knowledge";
    case "route": return "routing";
    case "endpointing": return "end of turn";
    case "voice": return "voice";
    default: return event.kind;
  }
}

const partialRows = new Map(); // role -> the row of that role's partial transcript in the shown timeline

function appendRow(event) {
  const timeline = $("timeline");
  const row = el("li", "kind-" + event.kind);
  row.dataset.kind = event.kind;
  if (event.kind === "transcript") row.classList.add(cssName(event.role), event.final ? "final" : "partial");
  if (event.kind === "speech") row.classList.add("minor");
  if (event.kind === "hang" || event.kind === "interruption") row.classList.add("alert");
  const latency = event.kind === "voice" ? event.ttfbMs : event.latencyMs;
  const latencyCell = el("span", "latency", latency === undefined ? "" : latency.toFixed(1) + " ms" + (event.kind === "voice" ? " TTFB" : ""));
  const flagged = flag(row, event.kind, latency);
  if (flagged) latencyCell.append(el("span", "flag", flagged));
  row.append(el("span", "time", clock(event.atMs)), el("span", "kind", label(event)), describe(event), latencyCell);
  if (event.kind === "transcript") {
    // A partial is replaced by the next partial or the final of the same role.
    const previous = partialRows.get(event.role);
    if (previous && previous.isConnected) previous.replaceWith(row);
    else timeline.append(row);
    if (event.final) partialRows.delete(event.role); else partialRows.set(event.role, row);
  } else {
    timeline.append(row);
  }
  const panel = $("call-panel");
  if (panel.scrollHeight - panel.scrollTop - panel.clientHeight < 120) panel.scrollTop = panel.scrollHeight;
}

async function showContext() {
  if (selected === null) return;
  const pre = $("context");
  if (!pre.hidden) { pre.hidden = true; return; }
  const response = await fetch("/calls/" + encodeURIComponent(selected), { credentials: "same-origin" });
  pre.textContent = response.ok ? JSON.stringify(await response.json(), null, 2) : "no context: " + response.status;
  pre.hidden = false;
}

function setConnection(text, state) {
  const node = $("connection");
  node.textContent = text;
  node.className = "connection " + state;
}

function connect() {
  // EventSource reconnects by itself, sending Last-Event-ID; the server replays what was missed.
  const source = new EventSource("/monitor/events");
  source.addEventListener("ready", () => setConnection("live", "live"));
  source.addEventListener("resync", () => {
    // Events were dropped for this page: reload what the server knows.
    setConnection("resynced", "live");
    loadCalls();
  });
  source.onmessage = (message) => apply(JSON.parse(message.data));
  source.onerror = () => setConnection("reconnecting…", "down");
}

document.addEventListener("DOMContentLoaded", () => {
  partialRows.clear();
  $("filter").addEventListener("input", renderCalls);
  $("context-button").addEventListener("click", showContext);
  setInterval(renderCalls, 1000);
  loadCalls();
  connect();
});
