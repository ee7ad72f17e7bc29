"use strict";
const rows = document.getElementById("rows");
const filter = document.getElementById("filter");
const status = (text) => { document.getElementById("status").textContent = text; };
document.getElementById("js").textContent =
  `posthog.init('<project key>', { api_host: '${location.origin}' })`;
document.getElementById("py").textContent = `host='${location.origin}'`;
let after = 0, rejectedAfter = 0;

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}
function shown(row) {
  const wanted = filter.value.trim().toLowerCase();
  row.hidden = wanted !== "" && !row.dataset.text.includes(wanted);
}
function add(row, text) {
  row.dataset.text = text.toLowerCase();
  rows.insertBefore(row, rows.firstChild);
  shown(row);
}
function addEvent(e) {
  const row = document.createElement("tr");
  row.className = e.source;
  cell(row, e.timestamp.slice(11, 23), "time");
  cell(row, e.source, "source");
  cell(row, e.event);
  cell(row, e.distinct_id === null ? "<none>" : e.distinct_id);
  cell(row, e.lib);
  cell(row, e.transport);
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${Object.keys(e.properties).length} properties`;
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify({ properties: e.properties, $set: e.set,
    $set_once: e.set_once, uuid: e.uuid, api_key: e.api_key, endpoint: e.endpoint }, null, 2);
  details.append(summary, pre);
  cell(row, "").append(details);
  add(row, `${e.event} ${e.distinct_id}`);
}
function addRejected(r) {
  const row = document.createElement("tr");
  row.className = "rejected";
  cell(row, r.received_at.slice(11, 23), "time");
  cell(row, "rejected");
  cell(row, `${r.method} ${r.url}`);
  cell(row, `HTTP ${r.status}`);
  cell(row, `${r.bytes} bytes`);
  cell(row, r.transport);
  cell(row, r.reason);
  add(row, `${r.url} ${r.reason}`);
}
filter.addEventListener("input", () => { for (const row of rows.rows) shown(row); });

async function follow() {
  for (;;) {
    let data;
    try {
      const answer = await fetch(
        `/_hybrid/events?after=${after}&rejected_after=${rejectedAfter}`, { cache: "no-store" });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      data = await answer.json();
    } catch (error) {
      status(`disconnected (${error.message}): reload once the collector runs again`);
      return;
    }
    data.events.forEach(addEvent);
    data.rejected.forEach(addRejected);
    after = data.after;
    rejectedAfter = data.rejected_after;
    document.getElementById("count").textContent =
      `${after} event${after === 1 ? "" : "s"}` +
      (rejectedAfter ? `, ${rejectedAfter} rejected` : "");
    if (data.stopping) { status("the collector stopped"); return; }
    status("live");
  }
}
follow();
