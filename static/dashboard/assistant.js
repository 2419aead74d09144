// An assistant's page: draw its graph (the drawings the server embedded: subgraphs expanded,
// a switch collapses them).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const drawing = JSON.parse(document.getElementById("drawing").textContent);
  DGGraph.mount(document.getElementById("graph"), drawing);
});
