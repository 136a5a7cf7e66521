// The analysts' modeler: the Camunda 7 bpmn-js modeler with its properties panel over one draft.
// Save, validate (problems listed and marked on the canvas) and deploy go to the JSON endpoints
// of webapp/processes.py with the CSRF token in the X-CSRFToken header. bpmnlint (window.ProconLint,
// webapp/static/vendor/bpmnlint/procon-lint.js) checks the diagram as the analyst draws: issues on the
// elements, a button with the counts, and our pt-BR summary in #lint-resumo.
(function () {
  "use strict";
  var root = document.getElementById("modelador");
  if (!root) { return; }
  var status = document.getElementById("modelador-status");
  var errorBox = document.getElementById("modelador-erro");
  var problemsBox = document.getElementById("problemas");
  var problemsList = document.getElementById("problemas-lista");
  var problemsSummary = document.getElementById("problemas-resumo");
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var buttons = ["btn-salvar", "btn-validar", "btn-implantar"].map(function (id) { return document.getElementById(id); });
  var markedIds = [];

  // The vendored camunda-bpmn-js bundle exposes its modeler as window.BpmnModeler.
  var Modeler = window.CamundaPlatformModeler || window.BpmnModeler;
  if (!Modeler) {
    root.textContent = "Não foi possível carregar o modelador (arquivo JavaScript ausente).";
    root.dataset.ready = "error";
    return;
  }
  var lint = window.ProconLint;
  var options = { container: "#canvas", propertiesPanel: { parent: "#painel" } };
  if (lint) {
    options.linting = { active: true, bpmnlint: lint.config };
    options.additionalModules = [lint.translateModule, lint.lintModule];
  }
  var modeler = new Modeler(options);
  window.proconModeler = modeler;
  var lintSummary = document.getElementById("lint-resumo");

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }
  if (lint && lintSummary) {
    modeler.get("eventBus").on("linting.completed", function (event) {
      var errors = 0, warnings = 0;
      Object.keys(event.issues || {}).forEach(function (id) {
        event.issues[id].forEach(function (issue) {
          if (issue.category === "error") { errors += 1; } else if (issue.category === "warn") { warnings += 1; }
        });
      });
      lintSummary.textContent = errors || warnings
        ? "Verificação do desenho: " + plural(errors, "erro", "erros") + ", " + plural(warnings, "aviso", "avisos") +
          ". Clique no botão no canto do diagrama para mostrar ou ocultar as marcações."
        : "Verificação do desenho: nenhum problema encontrado.";
      lintSummary.className = errors ? "lint-resumo lint-com-erros" : "lint-resumo";
      root.dataset.lintErrors = String(errors);
      root.dataset.lintWarnings = String(warnings);
      root.dataset.linted = "true";
    });
  } else if (lintSummary) {
    lintSummary.textContent = "A verificação do desenho no navegador não pôde ser carregada; use “Validar”.";
  }

  function say(text) { status.textContent = text; }
  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }
  function busy(flag) { buttons.forEach(function (b) { b.disabled = flag; }); }

  function request(url, body) {
    return fetch(url, {
      method: body === undefined ? "GET" : "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data;
        try { data = JSON.parse(text); } catch (e) {
          data = { erro: response.status === 400 ? "A página expirou; recarregue-a e tente de novo."
                                                 : "Erro inesperado do servidor (HTTP " + response.status + ")." };
        }
        data.status = response.status;
        return data;
      });
    });
  }

  function currentXml() {
    return modeler.saveXML({ format: true }).then(function (result) { return { xml: result.xml }; });
  }

  function clearProblems() {
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    markedIds.forEach(function (id) { try { canvas.removeMarker(id, "processos-problema"); } catch (e) { /* gone */ } });
    overlays.remove({ type: "processos-problema" });
    markedIds = [];
    problemsList.textContent = "";
    problemsBox.hidden = true;
  }

  function showProblems(problems, summary) {
    clearProblems();
    var registry = modeler.get("elementRegistry");
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    problemsSummary.textContent = summary || "";
    problems.forEach(function (problem) {
      var li = document.createElement("li");
      li.className = "problema";
      li.dataset.elemento = problem.elemento || "";
      var element = problem.elemento ? registry.get(problem.elemento) : null;
      var label = document.createElement(element ? "button" : "span");
      if (element) { label.type = "button"; label.className = "link"; }
      label.textContent = (problem.elemento ? "[" + problem.elemento + "] " : "") + problem.mensagem +
        (problem.linha ? " (linha " + problem.linha + ")" : "");
      li.appendChild(label);
      problemsList.appendChild(li);
      if (element) {
        label.addEventListener("click", function () {
          modeler.get("selection").select(element);
          if (canvas.scrollToElement) { canvas.scrollToElement(element); }
        });
        if (markedIds.indexOf(element.id) < 0) {
          canvas.addMarker(element.id, "processos-problema");
          markedIds.push(element.id);
          var badge = document.createElement("div");
          badge.className = "processos-selo-problema";
          badge.title = problem.mensagem;
          badge.textContent = "!";
          overlays.add(element.id, "processos-problema", { position: { top: -10, right: 10 }, html: badge });
        }
      }
    });
    problemsBox.hidden = problems.length === 0 && !summary;
  }

  function save() {
    busy(true); showError(""); say("Salvando…");
    return currentXml().then(function (body) { return request(root.dataset.saveUrl, body); })
      .then(function (data) {
        busy(false);
        if (data.erro) { showError(data.erro); say(""); return; }
        say(data.mensagem);
      });
  }

  function validate() {
    busy(true); showError(""); say("Validando…");
    return currentXml().then(function (body) { return request(root.dataset.validateUrl, body); })
      .then(function (data) {
        busy(false);
        if (data.erro) { showError(data.erro); say(""); return; }
        showProblems(data.problemas || [], data.mensagem);
        say(data.mensagem);
        root.dataset.validated = data.ok ? "ok" : "problems";
      });
  }

  function deploy() {
    if (!window.confirm("Implantar este rascunho como nova versão? Novos casos começarão nela; " +
                        "os casos em andamento continuam nas versões em que começaram.")) { return; }
    busy(true); showError(""); say("Implantando…");
    return currentXml().then(function (body) { return request(root.dataset.deployUrl, body); })
      .then(function (data) {
        if (data.ok) { say(data.mensagem); window.location.href = data.destino; return; }
        busy(false); say("");
        showError(data.erro);
        if (data.problemas) { showProblems(data.problemas, data.problemas.length + " problema(s) impedem a implantação."); }
      });
  }

  function failed(error) {
    busy(false); say("");
    showError("Não foi possível concluir: " + (error && error.message ? error.message : error));
  }
  document.getElementById("btn-salvar").addEventListener("click", function () { save().catch(failed); });
  document.getElementById("btn-validar").addEventListener("click", function () { validate().catch(failed); });
  var compareLink = document.getElementById("btn-comparar");
  if (compareLink) {
    // Compare what is drawn now: save first, then open the comparison (a failed save stays here).
    compareLink.addEventListener("click", function (event) {
      event.preventDefault();
      busy(true); showError(""); say("Salvando para comparar…");
      currentXml().then(function (body) { return request(root.dataset.saveUrl, body); })
        .then(function (data) {
          busy(false);
          if (data.erro) { showError(data.erro); say(""); return; }
          window.location.href = compareLink.href;
        })
        .catch(failed);
    });
  }
  document.getElementById("btn-implantar").addEventListener("click", function () {
    var p = deploy(); if (p) { p.catch(failed); }
  });

  busy(true);
  request(root.dataset.xmlUrl)
    .then(function (data) {
      if (data.erro) { throw new Error(data.erro); }
      return modeler.importXML(data.xml);
    })
    .then(function () {
      modeler.get("canvas").zoom("fit-viewport");
      busy(false);
      root.dataset.ready = "true";
    })
    .catch(function (error) {
      busy(false);
      buttons[1].disabled = buttons[2].disabled = true;
      showError("Não foi possível abrir o diagrama no modelador: " + (error && error.message ? error.message : error) +
                ". Baixe o .bpmn, corrija-o e envie de novo pelo catálogo.");
      root.dataset.ready = "error";
    });
}());
