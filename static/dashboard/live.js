// The dashboard's live plumbing (no build step, no framework):
// - DG.socket(path, onFrame): a WebSocket to the server's /ws/ routes that reconnects, marks
//   <body data-live="on|off">, and hands each JSON frame {event, data, id} to onFrame.
// - Regions marked data-live-refresh="<url>" are re-read from the server (their fragment) when
//   runs change (/ws/activity): at most one read in flight per region, and one more after it
//   if something changed meanwhile, so a busy server cannot queue reads up.
// - The theme toggle (light / dark / the system's), kept in localStorage.
"use strict";
const DG = (() => {
  // The site's mount prefix (langgraph.json's http.mount_prefix; "" at the root).
  const root = document.querySelector('meta[name="dg-root"]')?.content || "";
  const wsUrl = (path) => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root}${path}`;

  function socket(path, onFrame, { onOpen, onEnd } = {}) {
    let delay = 500, closedByUs = false, ws;
    const open = () => {
      ws = new WebSocket(wsUrl(typeof path === "function" ? path() : path));
      ws.onopen = () => { delay = 500; document.body.dataset.live = "on"; onOpen && onOpen(); };
      ws.onmessage = (message) => onFrame(JSON.parse(message.data));
      ws.onclose = (event) => {
        document.body.dataset.live = "off";
        if (closedByUs) return;
        if (event.code === 1000 || event.code >= 4000) { onEnd && onEnd(event.code); return; }
        setTimeout(open, delay); delay = Math.min(delay * 2, 10000);
      };
    };
    open();
    return { close() { closedByUs = true; ws.close(); } };
  }

  // A node's HTML as the server rendered it: without the "fresh" highlight this script adds.
  const served = (node, html = (copy) => copy.outerHTML) => {
    const copy = node.cloneNode(true);
    [copy, ...copy.querySelectorAll(".fresh")].forEach((element) => {
      element.classList.remove("fresh");
      if (!element.classList.length) element.removeAttribute("class");
    });
    return html(copy);
  };

  // Put a fragment into a region without disturbing what did not change: an identical fragment
  // leaves the DOM alone, and rows whose HTML is unchanged keep their nodes. A click is a
  // mousedown and a mouseup on one node; swapping the node between the two loses the click.
  function swapIn(region, html) {
    const next = document.createElement("template");
    next.innerHTML = html;
    if (served(region, (copy) => copy.innerHTML) === next.innerHTML) return false;
    const rows = new Map([...region.querySelectorAll("[data-row]")].map((row) => [row.dataset.row, row]));
    const ticked = new Set([...region.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.name + "=" + box.value));
    next.content.querySelectorAll("[data-row]").forEach((row) => {
      const old = rows.get(row.dataset.row);
      if (old && served(old) === row.outerHTML) row.replaceWith(old);
      else if (!old || old.dataset.state !== row.dataset.state) row.classList.add("fresh");
    });
    next.content.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = ticked.has(box.name + "=" + box.value); });
    region.replaceChildren(next.content);
    return true;
  }

  function refresher(region) {
    let busy = false, again = false;
    const run = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const response = await fetch(region.dataset.liveRefresh, { headers: { "X-Dashboard-Fragment": "1" } });
        if (response.ok && swapIn(region, await response.text())) {
          region.dispatchEvent(new CustomEvent("dg:refreshed", { bubbles: true }));
        }
      } finally {
        busy = false;
        if (again) { again = false; run(); }
      }
    };
    return run;
  }

  function liveRegions() {
    const regions = [...document.querySelectorAll("[data-live-refresh]")].map(refresher);
    if (!regions.length) return;
    let scheduled = false;
    const refreshAll = () => {
      if (scheduled) return;
      scheduled = true;
      setTimeout(() => { scheduled = false; regions.forEach((refresh) => refresh()); }, 50);
    };
    socket("/ws/activity", refreshAll, { onOpen: refreshAll });
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) throw Object.assign(new Error(data.detail || response.statusText), { status: response.status, data });
    return data;
  }

  function themeToggle() {
    document.querySelectorAll("[data-theme-toggle]").forEach((button) => button.addEventListener("click", () => {
      const dark = matchMedia("(prefers-color-scheme: dark)").matches;
      const current = document.documentElement.dataset.theme || (dark ? "dark" : "light");
      const next = current === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("dg-theme", next);
    }));
  }

  document.addEventListener("DOMContentLoaded", () => { themeToggle(); liveRegions(); });
  return { socket, postJSON, csrfToken };
})();
