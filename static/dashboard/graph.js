// Draws a graph as LangGraph serializes it (GET /assistants/{id}/graph: {nodes, edges}) into an
// SVG laid out by dagre (static/vendor/dagre-*), and lights its nodes up:
//   const graph = DGGraph.mount(container, {expanded, collapsed});  // or DGGraph.draw(container, drawable)
//   graph.setState("node" or "parent:child", "running" | "done" | "failed" | "interrupted");
// Subgraph nodes (xray) are "parent:child"; each node's <g> carries data-node and data-state.
"use strict";
const DGGraph = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const el = (name, attrs = {}, parent) => {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  };
  const label = (node) => (node.data && node.data.name) || node.id;

  function draw(container, drawable) {
    container.textContent = "";
    const nodes = (drawable && drawable.nodes) || [];
    if (!nodes.length) {
      container.innerHTML = '<p class="empty">No graph to draw.</p>';
      return { setState() {}, reset() {} };
    }
    const layout = new dagre.graphlib.Graph({ multigraph: true });
    layout.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 40, marginx: 12, marginy: 12 });
    layout.setDefaultEdgeLabel(() => ({}));
    for (const node of nodes) {
      const width = Math.max(90, label(node).length * 8 + 28);
      layout.setNode(node.id, { width, height: 34, node });
    }
    (drawable.edges || []).forEach((edge, index) => layout.setEdge(edge.source, edge.target, { edge }, String(index)));
    dagre.layout(layout);
    // The box of everything drawn: an edge routed around nodes may leave dagre's own box.
    const xs = [], ys = [];
    layout.nodes().forEach((id) => { const n = layout.node(id); xs.push(n.x - n.width / 2, n.x + n.width / 2); ys.push(n.y - n.height / 2, n.y + n.height / 2); });
    layout.edges().forEach((e) => layout.edge(e).points.forEach((p) => { xs.push(p.x); ys.push(p.y); }));
    const pad = 12, left = Math.min(...xs) - pad, top = Math.min(...ys) - pad;
    const width = Math.max(...xs) + pad - left, height = Math.max(...ys) + pad - top;
    const svg = el("svg", { width, height, viewBox: `${left} ${top} ${width} ${height}`, role: "img",
      "aria-label": `Graph with ${nodes.length} nodes` }, container);
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "dg-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }, marker);
    for (const edgeId of layout.edges()) {
      const { points, edge } = layout.edge(edgeId);
      const d = points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
      el("path", { d, class: `edge${edge.conditional ? " conditional" : ""}`, "marker-end": "url(#dg-arrow)" }, svg);
    }
    const elements = new Map();
    for (const id of layout.nodes()) {
      const { x, y, width, height, node } = layout.node(id);
      const terminal = id === "__start__" || id === "__end__";
      const group = el("g", { class: `node${terminal ? " terminal" : ""}`, "data-node": id, "data-state": "idle",
        transform: `translate(${x - width / 2},${y - height / 2})` }, svg);
      el("title", {}, group).textContent = id;
      el("rect", { width, height }, group);
      const text = el("text", { x: width / 2, y: height / 2 + 4, "text-anchor": "middle" }, group);
      text.textContent = label(node);
      elements.set(id, group);
    }
    return {
      setState(nodeId, state) {
        const group = elements.get(nodeId);
        if (group) group.dataset.state = state;
        return Boolean(group);
      },
      reset() { elements.forEach((group) => { group.dataset.state = "idle"; }); },
    };
  }

  // Draw {expanded, collapsed} (assistants.selectors.assistant_drawings): the expanded one,
  // with a switch to collapse the subgraphs when there are any. Node states survive the switch
  // (a subgraph's inner nodes simply have no element while it is collapsed).
  function mount(container, drawings) {
    if (!drawings) return { setState() {}, reset() {} };
    const states = new Map();
    const box = document.createElement("div");
    let graph;
    const render = (drawing) => {
      graph = draw(box, drawing);
      states.forEach((state, nodeId) => graph.setState(nodeId, state));
    };
    container.textContent = "";
    if (drawings.collapsed) {
      const label = document.createElement("label");
      label.className = "graph-switch";
      label.innerHTML = '<input type="checkbox" checked> Expand subgraphs';
      label.querySelector("input").addEventListener("change", (event) => {
        render(event.target.checked ? drawings.expanded : drawings.collapsed);
      });
      container.appendChild(label);
    }
    container.appendChild(box);
    render(drawings.expanded);
    return {
      setState(nodeId, state) { states.set(nodeId, state); return graph.setState(nodeId, state); },
      reset() { states.clear(); graph.reset(); },
    };
  }

  // The drawing's id of the node an event names: its subgraph path ("parent:task" entries of
  // the namespace give the parent nodes) and its name.
  const nodeId = (node, namespace) => [...(namespace || []).map((part) => part.split(":")[0]), node].join(":");

  // The state a Node event leaves its node in.
  function stateAfter(event) {
    if (event.type === "NodeStarted") return "running";
    if (event.type !== "NodeCompleted") return null;
    if (event.payload.error) return "failed";
    return event.payload.interrupted ? "interrupted" : "done";
  }

  // Apply an event ({type, payload}) to a drawn graph; a new attempt starts the graph afresh.
  function apply(graph, event) {
    if (event.type === "RunStarted") { graph.reset(); return; }
    const state = stateAfter(event);
    if (state) graph.setState(nodeId(event.payload.node, event.payload.namespace), state);
  }

  return { draw, mount, apply, nodeId };
})();
