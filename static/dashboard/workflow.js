// A workflow's page: its DAG lit by the latest run's job statuses (polled every second, as
// workflow-graph's UI polls /status), running timers, and a log panel tailing a job's log over
// SSE (stored lines, then live ones, then `end`).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const meta = JSON.parse(document.getElementById("workflow-meta").textContent);
  const graph = DGGraph.mount(document.getElementById("graph"), JSON.parse(document.getElementById("drawing").textContent));
  const STATE = { queued: "idle", running: "running", success: "done", failure: "failed", skipped: "skipped", cancelled: "skipped" };
  let current = JSON.parse(document.getElementById("workflow-status").textContent);

  const render = (workflow) => {
    current = workflow;
    for (const job of workflow.jobs) {
      graph.setState(job.id, STATE[job.status] || "idle");
      const row = document.querySelector(`#jobs tr[data-job="${CSS.escape(job.id)}"]`);
      if (!row) continue;
      const badge = row.querySelector("[data-status]");
      badge.textContent = job.status;
      badge.className = `status status-${job.status}`;
      row.dataset.state = job.status;
      row.querySelector("[data-attempt]").textContent = job.attempt + 1;
      if (job.duration_secs !== null) row.querySelector("[data-time]").textContent = `${job.duration_secs.toFixed(1)} s`;
    }
    if (!workflow.run) return;
    const badges = [document.getElementById("run-status"), document.querySelector(`[data-run="${workflow.run.run_id}"] [data-run-status]`)];
    for (const badge of badges.filter(Boolean)) {
      badge.textContent = workflow.run.status;
      badge.className = `status status-${workflow.run.status}`;
    }
  };
  const tick = () => {  // running timers between polls
    for (const job of current.jobs) {
      if (job.status !== "running" || !job.started_at) continue;
      const row = document.querySelector(`#jobs tr[data-job="${CSS.escape(job.id)}"]`);
      if (row) row.querySelector("[data-time]").textContent = `${((Date.now() - job.started_at) / 1000).toFixed(1)} s`;
    }
  };
  render(current);
  setInterval(async () => {
    const response = await fetch(meta.status);
    if (response.ok) { render(await response.json()); document.body.dataset.live = "on"; } else { document.body.dataset.live = "off"; }
  }, 1000);
  setInterval(tick, 100);

  // -- the log panel ---------------------------------------------------------------------
  let source = null;
  const tail = (jobId) => {
    if (source) source.close();
    const log = document.getElementById("log");
    log.textContent = ""; log.classList.remove("muted");
    document.getElementById("log-job").textContent = jobId;
    source = new EventSource(meta.log.replace("JOB", encodeURIComponent(jobId)));
    source.addEventListener("log", (event) => {
      const chunk = JSON.parse(event.data);
      log.append(chunk.stream === "stderr" ? Object.assign(document.createElement("span"), { className: "error", textContent: chunk.data }) : chunk.data);
      if (!chunk.data.endsWith("\n")) log.append("\n");
    });
    source.addEventListener("end", (event) => {
      log.append(`— ${JSON.parse(event.data).status}`);
      log.dataset.ended = JSON.parse(event.data).status;
      source.close();
    });
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) return; };
  };
  document.getElementById("graph").addEventListener("click", (event) => {
    const node = event.target.closest("[data-node]");
    if (node && !node.dataset.node.startsWith("__")) tail(node.dataset.node);
  });
  document.getElementById("jobs").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-job]");
    if (row) tail(row.dataset.job);
  });
  document.getElementById("jobs").addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-job]");
    if (row && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); tail(row.dataset.job); }
  });
});
