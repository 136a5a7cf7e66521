// Two versions side by side (bpmn-js NavigatedViewer), with added / removed / changed elements marked.
(function () {
  "use strict";
  var data = document.getElementById("comparacao-marcas");
  if (!data || !window.BpmnJS) { return; }
  var markers = JSON.parse(data.textContent);
  var sides = [["diagrama-a", markers.before || {}], ["diagrama-b", markers.after || {}]];
  var pending = sides.length;
  var holder = document.getElementById("comparacao");
  sides.forEach(function (side) {
    var container = document.getElementById(side[0]);
    var viewer = new window.BpmnJS({ container: container });
    fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        Object.keys(side[1]).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, "diff-" + side[1][id]); }
        });
        canvas.zoom("fit-viewport");
        container.dataset.rendered = "true";
      })
      .catch(function (error) {
        container.textContent = "Não foi possível desenhar o diagrama: " + error.message;
        container.dataset.rendered = "error";
      })
      .then(function () {
        pending -= 1;
        if (pending === 0) { holder.dataset.rendered = "true"; }
      });
  });
}());
