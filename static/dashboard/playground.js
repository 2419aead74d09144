// The Playground: send an input (a chat message for graphs with `messages`, else a form made
// from the graph's input schema, or raw JSON), watch the run live beside it: nodes light up,
// tokens stream into the chat, values into the output; an interrupt asks for a resume value.
// One socket per run: /ws/runs/<id>/events (the run's events: nodes, chunks, its end).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const metaEl = document.getElementById("playground-meta");
  if (!metaEl) return;
  const meta = JSON.parse(metaEl.textContent);
  const schema = JSON.parse(document.getElementById("input-schema").textContent) || {};
  const drawing = JSON.parse(document.getElementById("drawing").textContent);
  const graph = DGGraph.mount(document.getElementById("graph"), drawing);
  const $ = (id) => document.getElementById(id);
  const properties = schema.properties || {};
  const isChat = "messages" in properties;
  const historyKey = `dg-inputs-${meta.assistant_id}`;
  let raw = false, current = null;

  // -- input: chat, a form from the schema, or raw JSON ------------------------------------
  const fields = Object.entries(properties).filter(([name]) => name !== "messages");
  const typeOf = (sub) => sub.type || (sub.anyOf && (sub.anyOf.find((s) => s.type && s.type !== "null") || {}).type) || "json";
  if (!isChat) {
    const box = $("form-input");
    for (const [name, sub] of fields) {
      const type = typeOf(sub);
      const id = `field-${name}`;
      const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: `${sub.title || name} (${type})` });
      const input = type === "string" || type === "number" || type === "integer" || type === "boolean"
        ? Object.assign(document.createElement("input"), { type: type === "boolean" ? "checkbox" : (type === "string" ? "text" : "number") })
        : Object.assign(document.createElement("textarea"), { rows: 2, placeholder: "JSON" });
      Object.assign(input, { id, name });
      input.dataset.type = type;
      const error = Object.assign(document.createElement("p"), { className: "field-error", id: `${id}-error` });
      box.append(label, input, error);
    }
    if (!fields.length) raw = true;
  }
  const showMode = () => {
    $("chat-input").hidden = !isChat || raw;
    $("chat").hidden = !isChat;
    $("form-input").hidden = isChat || raw;
    $("json-input").hidden = !raw;
    $("p-raw").setAttribute("aria-pressed", String(raw));
  };
  $("p-raw").addEventListener("click", () => {
    if (!raw) { try { $("p-json").value = JSON.stringify(readInput(), null, 2); } catch (error) { /* keep the text */ } }
    raw = !raw; showMode();
  });
  showMode();

  function readInput() {
    if (raw) {
      try { return JSON.parse($("p-json").value || "{}"); } catch (error) { throw { field: "p-json", message: `Invalid JSON: ${error.message}` }; }
    }
    if (isChat) return { messages: [{ role: "human", content: $("p-message").value }] };
    const input = {};
    for (const [name] of fields) {
      const element = $(`field-${name}`);
      const type = element.dataset.type;
      if (type === "boolean") { input[name] = element.checked; continue; }
      if (element.value === "") continue;
      if (type === "number" || type === "integer") input[name] = Number(element.value);
      else if (type === "string") input[name] = element.value;
      else {
        try { input[name] = JSON.parse(element.value); } catch (error) { throw { field: `field-${name}`, message: `Invalid JSON: ${error.message}` }; }
      }
    }
    return input;
  }

  const clearErrors = () => document.querySelectorAll("#send .field-error").forEach((p) => { p.textContent = ""; });
  const showError = (field, message) => {
    const target = (field && $(`${field}-error`)) || $("input-error");
    target.textContent = message;
  };

  // -- previous inputs, one click away -----------------------------------------------------
  const history = () => JSON.parse(localStorage.getItem(historyKey) || "[]");
  const renderHistory = () => {
    const select = $("p-history");
    select.length = 1;
    history().forEach((input, index) => select.add(new Option(JSON.stringify(input).slice(0, 80), String(index))));
  };
  $("p-history").addEventListener("change", (event) => {
    const input = history()[Number(event.target.value)];
    if (!input) return;
    raw = true; $("p-json").value = JSON.stringify(input, null, 2); showMode();
    event.target.value = "";
  });
  renderHistory();

  // -- a run, live -------------------------------------------------------------------------
  const STATUS_AFTER = { RunStarted: "running", RunCompleted: "success", RunFailed: "error", RunTimedOut: "timeout",
    RunInterrupted: "interrupted", RunCancelled: "interrupted", RunRetried: "pending" };
  const setStatus = (status) => { const el = $("p-status"); el.hidden = false; el.textContent = status; el.className = `status status-${status}`; };
  const bubble = (kind, text) => {
    const el = Object.assign(document.createElement("div"), { className: `bubble ${kind}`, textContent: text });
    $("chat").appendChild(el); $("chat").scrollTop = $("chat").scrollHeight;
    return el;
  };
  const textOf = (content) => typeof content === "string" ? content
    : Array.isArray(content) ? content.map((part) => typeof part === "string" ? part : part.text || "").join("") : "";

  function follow(run) {
    if (current) current.close();
    graph.reset();
    setStatus("pending");
    Object.assign($("p-run-link"), { href: run.url, hidden: false });
    $("output").textContent = "…"; $("output").classList.remove("muted");
    $("interrupt").hidden = true;
    let streaming = null, streamed = false;
    current = DG.socket(`/ws/runs/${run.run_id}/events`, (frame) => {
      if (frame.event !== "event") return;
      const event = frame.data;
      DGGraph.apply(graph, event);
      if (STATUS_AFTER[event.type]) setStatus(STATUS_AFTER[event.type]);
      if (event.type === "RunOutputStreamed") {
        const { mode, data } = event.payload;
        if (mode === "values") {
          $("output").textContent = JSON.stringify(data, null, 2);
          if (isChat && !streamed && data && Array.isArray(data.messages)) {
            const last = data.messages[data.messages.length - 1];
            if (last && last.type === "ai" && !streaming) streaming = bubble("ai", textOf(last.content));
          }
        } else if (mode === "messages" || mode === "messages-tuple") {
          const chunk = Array.isArray(data) ? data[0] : data;
          if (chunk && (chunk.type === "AIMessageChunk" || chunk.type === "ai")) {
            streamed = true;
            streaming = streaming || bubble("ai", "");
            streaming.textContent = chunk.type === "ai" ? textOf(chunk.content) : streaming.textContent + textOf(chunk.content);
          }
        }
      } else if (event.type === "RunInterrupted") {
        const interrupts = Object.values(event.payload.interrupts || {}).flat().map((item) => item.value);
        $("interrupt-payload").textContent = JSON.stringify(interrupts.length === 1 ? interrupts[0] : interrupts, null, 2);
        $("interrupt").hidden = false;
        $("p-resume").focus();
      } else if (event.type === "RunFailed" || event.type === "RunTimedOut") {
        $("output").textContent = `${event.payload.error || "TimeoutError"}: ${event.payload.message}`;
      }
    });
  }

  async function start(body) {
    const run = await DG.postJSON(meta.start, { assistant_id: meta.assistant_id, thread_id: $("p-thread").value.trim(),
      stream_mode: isChat ? ["values", "messages-tuple"] : ["values"], ...body });
    $("p-thread").value = run.thread_id;
    follow(run);
    return run;
  }

  $("send").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    let input;
    try { input = readInput(); } catch (problem) { showError(problem.field, problem.message); return; }
    $("p-send").disabled = true;
    try {
      await start({ input });
      if (isChat && !raw) { bubble("human", $("p-message").value); $("p-message").value = ""; }
      localStorage.setItem(historyKey, JSON.stringify([input, ...history().filter((old) => JSON.stringify(old) !== JSON.stringify(input))].slice(0, 10)));
      renderHistory();
    } catch (error) {
      showError(null, error.message);
    } finally {
      $("p-send").disabled = false;
    }
  });

  $("resume").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("resume-error").textContent = "";
    const text = $("p-resume").value;
    let value;
    try { value = JSON.parse(text); } catch (error) { value = text; }
    try { await start({ command: { resume: value } }); } catch (error) { $("resume-error").textContent = error.message; }
  });
});
