// Draws the case's BPMN diagram with bpmn-js and marks the current and completed elements.
(function () {
  "use strict";
  var container = document.getElementById("diagrama");
  if (!container || !window.BpmnJS) { return; }
  var viewer = new window.BpmnJS({ container: container });
  var ids = function (name) { return (container.dataset[name] || "").split(" ").filter(Boolean); };
  fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      ids("done").forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "etapa-feita"); } });
      ids("current").forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "etapa-atual"); } });
      canvas.zoom("fit-viewport");
      container.dataset.rendered = "true";
    })
    .catch(function (error) {
      container.textContent = "Não foi possível desenhar o diagrama: " + error.message;
      container.dataset.rendered = "error";
    });
}());
