// Painel: Chart.js charts from the numbers also shown in the tables, and the bpmn-js diagram with
// the count of cases waiting (and overdue) on each task; each count links to the list of cases.
(function () {
  "use strict";
  var readJson = function (id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  };
  var percent = function (rate) { return rate === null ? null : Math.round(rate * 1000) / 10; };

  var charts = readJson("dados-graficos");
  if (charts && window.Chart) {
    var bars = document.getElementById("grafico-conformidade");
    if (bars) {
      new window.Chart(bars, {
        type: "bar",
        data: {
          labels: charts.grupos.map(function (g) { return g.rotulo; }),
          datasets: [{ label: "% no prazo", data: charts.grupos.map(function (g) { return percent(g.taxa); }),
                       backgroundColor: "#1f4e79" }]
        },
        options: { maintainAspectRatio: false, animation: false, scales: { y: { min: 0, max: 100 } } }
      });
    }
    var line = document.getElementById("grafico-tendencia");
    if (line) {
      new window.Chart(line, {
        type: "line",
        data: {
          labels: charts.tendencia.map(function (p) { return p.rotulo; }),
          datasets: [{ label: "% no prazo", data: charts.tendencia.map(function (p) { return percent(p.taxa); }),
                       borderColor: "#1f4e79", spanGaps: true }]
        },
        options: { maintainAspectRatio: false, animation: false, scales: { y: { min: 0, max: 100 } } }
      });
    }
  }

  var container = document.getElementById("diagrama-espera");
  if (!container || !window.BpmnJS) { return; }
  var waiting = readJson("dados-espera") || {};
  var viewer = new window.BpmnJS({ container: container });
  fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var overlays = viewer.get("overlays");
      var registry = viewer.get("elementRegistry");
      Object.keys(waiting).forEach(function (id) {
        if (!registry.get(id)) { return; }
        var w = waiting[id];
        var link = document.createElement("a");
        var url = new URL(container.dataset.etapaUrl, window.location.href);
        url.searchParams.set("elemento", id);
        link.href = url.pathname + url.search;
        link.className = "contagem-etapa" + (w.atrasados ? " com-atraso" : "");
        link.textContent = w.aguardando + " aguardando" + (w.atrasados ? " · " + w.atrasados + " atrasado(s)" : "");
        link.title = w.titulo;
        overlays.add(id, { position: { top: -14, left: 0 }, html: link });
      });
      viewer.get("canvas").zoom("fit-viewport");
      container.dataset.rendered = "true";
    })
    .catch(function (error) {
      container.textContent = "Não foi possível desenhar o diagrama: " + error.message;
      container.dataset.rendered = "error";
    });
}());
