// A thread's page: start runs from it through the Playground's endpoint (POST JSON, answers
// {run_id, thread_id, url} or {detail}), then go to the new run's page.
// - "Fork a run from here": the chosen checkpoint's id goes into the run's config, so the run
//   starts from that checkpoint (LangGraph's time travel).
// - "Resume": a pending interrupt answered with Command(resume=value).
// "Edit state" needs no script: it is a plain form (threads/pages.py answers it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);

  async function start(form, errorEl, body, button) {
    errorEl.textContent = "";
    button.disabled = true;
    try {
      const run = await DG.postJSON(form.dataset.start, { thread_id: form.dataset.thread, ...body });
      location.assign(run.url);
    } catch (error) {
      errorEl.textContent = error.message;
      button.disabled = false;
    }
  }

  const fork = $("fork-form");
  if (fork) {
    fork.addEventListener("submit", (event) => {
      event.preventDefault();
      let input;
      try { input = JSON.parse($("fork-input").value || "null"); } catch (error) {
        $("fork-error").textContent = `Invalid JSON: ${error.message}`;
        $("fork-input").focus();
        return;
      }
      start(fork, $("fork-error"), { assistant_id: $("fork-assistant").value, checkpoint_id: fork.dataset.checkpoint, input },
        fork.querySelector("button[type=submit]"));
    });
    // Chosen from the history: bring the time-travel card into view, focus in it.
    if (location.hash === "#time-travel") $("time-travel").focus();
  }

  const resume = $("resume-form");
  if (resume) {
    resume.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("resume-value").value;
      let value;
      try { value = JSON.parse(text); } catch (error) { value = text; }  // plain text is a string
      start(resume, $("resume-error"), { assistant_id: resume.dataset.assistant, command: { resume: value } },
        resume.querySelector("button[type=submit]"));
    });
  }
});
