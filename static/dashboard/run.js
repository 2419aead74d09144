// The run page made live: the graph drawn and lit up, new events appended to the event list,
// the timeline re-read from the server as nodes start and finish, the status kept current.
// Everything is rendered by the server first; /ws/runs/<id>/events brings what happens next.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const meta = JSON.parse(document.getElementById("run-meta").textContent);
  const drawing = JSON.parse(document.getElementById("drawing").textContent);
  const graphBox = document.getElementById("graph");
  const graph = DGGraph.mount(graphBox, drawing);
  for (const [node, state] of Object.entries(JSON.parse(document.getElementById("node-states").textContent))) {
    graph.setState(node, state);
  }

  // -- tabs; the selected event survives switching (and reloads: #event-<version>) ----------
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const show = (tab) => {
    tabs.forEach((other) => {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    });
    if (tab.dataset.src && !tab.dataset.loaded) {
      tab.dataset.loaded = "1";
      fetch(tab.dataset.src).then((r) => r.text()).then((html) => {
        document.getElementById(tab.getAttribute("aria-controls")).innerHTML = html;
      });
    }
  };
  tabs.forEach((tab) => tab.addEventListener("click", () => show(tab)));
  const select = (version) => {
    document.querySelectorAll("#events tr[aria-selected]").forEach((row) => row.removeAttribute("aria-selected"));
    const row = document.querySelector(`#events tr[data-version="${version}"]`);
    if (!row) return;
    row.setAttribute("aria-selected", "true");
    history.replaceState(null, "", `#event-${version}`);
    return row;
  };
  document.getElementById("events").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-version]");
    if (row) select(row.dataset.version);
  });
  const openSpan = (span) => {
    const row = select(span.dataset.version);
    show(document.getElementById("tab-events"));
    if (row) { row.scrollIntoView({ block: "center" }); row.focus(); }
  };
  const timeline = document.getElementById("timeline");
  timeline.addEventListener("click", (event) => { const span = event.target.closest(".span"); if (span) openSpan(span); });
  timeline.addEventListener("keydown", (event) => {
    const span = event.target.closest(".span");
    if (span && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); openSpan(span); }
  });
  const fromHash = /^#event-(\d+)$/.exec(location.hash);
  if (fromHash) select(fromHash[1]);

  // -- live ------------------------------------------------------------------------------
  if (!meta.active) return;
  const STATUS_AFTER = { RunStarted: "running", RunCompleted: "success", RunFailed: "error", RunTimedOut: "timeout",
    RunInterrupted: "interrupted", RunCancelled: "interrupted", RunRetried: "pending", RunLeaseExpired: "pending" };
  const status = document.getElementById("run-status");
  const tbody = document.querySelector("#events tbody");
  const count = document.getElementById("event-count");
  let lastVersion = meta.last_version, timelineDue = false;
  const refreshTimeline = () => {
    if (timelineDue) return;
    timelineDue = true;
    setTimeout(async () => {
      timelineDue = false;
      const response = await fetch(timeline.dataset.src, { headers: { "X-Dashboard-Fragment": "1" } });
      if (response.ok) timeline.innerHTML = await response.text();
    }, 100);
  };
  const addRow = (event) => {
    const row = tbody.insertRow();
    row.dataset.version = event.version;
    row.tabIndex = -1;
    const actor = [event.metadata.actor, event.metadata.worker_id].filter(Boolean).join(" ");
    for (const text of [event.version, event.type, event.created_at, actor]) row.insertCell().textContent = text;
    const details = document.createElement("details");
    details.innerHTML = "<summary>payload</summary><pre></pre>";
    details.querySelector("pre").textContent = JSON.stringify(event.payload, null, 2);
    row.insertCell().appendChild(details);
    count.textContent = tbody.rows.length;
  };
  DG.socket(() => `/ws/runs/${meta.run_id}/events?after_version=${lastVersion}`, (frame) => {
    if (frame.event !== "event") return;
    const event = frame.data;
    if (event.version <= lastVersion) return;
    lastVersion = event.version;
    addRow(event);
    DGGraph.apply(graph, event);
    if (STATUS_AFTER[event.type]) {
      status.textContent = STATUS_AFTER[event.type];
      status.className = `status status-${STATUS_AFTER[event.type]}`;
    }
    if (event.type !== "RunOutputStreamed" && event.type !== "RunLeaseRenewed") refreshTimeline();
  });
});
