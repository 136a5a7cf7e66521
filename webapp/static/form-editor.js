/* Form editor (“Formulários”): a structural editor and the raw JSON of one form draft, with a live
 * preview rendered by the server with the same macro as the attendants' task page. Every change
 * re-renders the preview (POST to /processos/formularios/previa); save, validate and publish call the
 * draft's JSON endpoints. No framework: plain DOM. */
(function () {
  "use strict";

  const root = document.getElementById("editor-formulario");
  if (!root) return;
  const config = JSON.parse(root.dataset.config);
  const csrf = root.dataset.csrf;
  const $ = (selector) => root.querySelector(selector);
  const list = $("#lista-campos");
  const rawText = $("#json-texto");
  const rawWarning = $("#json-aviso");
  const preview = $("#previa");
  const previewProblems = $("#previa-problemas");
  const status = $("#editor-estado");
  const messageBox = $("#editor-mensagem");

  // Attributes that only apply to some field types (same table as engine/forms.py).
  const TYPE_SPECIFIC = {
    choices: ["choice"], max_length: ["text", "textarea"], min_value: ["money", "number"],
    max_value: ["money", "number"], accept: ["file"], max_size_mb: ["file"],
  };

  let text = JSON.parse(document.getElementById("json-inicial").textContent);
  let form = parse(text);
  let revision = config.revisao;
  let open = config.aberto;
  let dirty = false;
  let previewSeq = 0;
  let previewTimer = null;

  function parse(source) {
    try {
      const data = JSON.parse(source);
      if (data && typeof data === "object" && !Array.isArray(data) && Array.isArray(data.fields)) return data;
    } catch (error) { /* shown by the preview's validation */ }
    return null;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  // -- messages --------------------------------------------------------------------------------
  function showMessage(kind, title, problems) {
    messageBox.innerHTML = "";
    if (!title) return;
    const box = el("div", { class: "mensagem mensagem-" + kind }, [el("strong", { text: title })]);
    if (problems && problems.length) {
      box.appendChild(el("ul", { class: "lista-problemas" }, problems.map((p) => el("li", { text: p }))));
    }
    messageBox.appendChild(box);
  }

  function setStatus(message) { status.textContent = message; }

  // -- state changes ---------------------------------------------------------------------------
  function changed(fromRaw) {
    dirty = true;
    if (!fromRaw && form) {
      text = JSON.stringify(form, null, 2) + "\n";
      rawText.value = text;
    }
    setStatus("Alterações não salvas.");
    schedulePreview();
  }

  function setAttr(target, name, value) {
    if (value === "" || value === null || value === undefined || value === false) delete target[name];
    else target[name] = value;
  }

  function numberOrText(value) {
    const trimmed = value.trim().replace(",", ".");
    if (trimmed === "") return "";
    const number = Number(trimmed);
    return Number.isFinite(number) ? number : value.trim();
  }

  function uniqueName(base) {
    const names = new Set(form.fields.map((f) => f && f.name));
    let index = form.fields.length + 1;
    while (names.has(base + "_" + index)) index += 1;
    return base + "_" + index;
  }

  function changeType(field, type) {
    field.type = type;
    Object.entries(TYPE_SPECIFIC).forEach(([attr, types]) => {
      if (!types.includes(type)) delete field[attr];
    });
    if (type === "choice" && !(Array.isArray(field.choices) && field.choices.length)) {
      field.choices = [{ value: "opcao_1", label: "Opção 1" }, { value: "opcao_2", label: "Opção 2" }];
    }
  }

  // -- the structural editor -------------------------------------------------------------------
  function input(label, value, onInput, attrs) {
    const id = "e" + Math.random().toString(36).slice(2, 9);
    const control = el((attrs && attrs.tag) || "input", Object.assign({ id, type: "text" }, attrs || {}, { tag: null }));
    if (control.tagName === "TEXTAREA") control.removeAttribute("type");
    control.value = value === undefined || value === null ? "" : String(value);
    control.addEventListener("input", () => { onInput(control.value); changed(false); });
    return el("div", { class: "campo campo-editor" }, [el("label", { for: id, text: label }), control]);
  }

  function fieldCard(field, index) {
    const card = el("li", { class: "cartao-campo", "data-indice": index, "data-nome": field.name });
    const title = el("strong", { text: (index + 1) + ". " + (field.label || field.name || "campo") });
    const move = (delta) => () => {
      const target = index + delta;
      if (target < 0 || target >= form.fields.length) return;
      form.fields.splice(target, 0, form.fields.splice(index, 1)[0]);
      renderFields(); changed(false);
    };
    card.appendChild(el("div", { class: "cartao-campo-topo" }, [
      title,
      el("span", { class: "cartao-campo-botoes" }, [
        el("button", { type: "button", class: "link", title: "Subir", "aria-label": "Subir o campo " + (index + 1),
          disabled: index === 0, onclick: move(-1), text: "↑" }),
        el("button", { type: "button", class: "link", title: "Descer", "aria-label": "Descer o campo " + (index + 1),
          disabled: index === form.fields.length - 1, onclick: move(1), text: "↓" }),
        el("button", { type: "button", class: "link remover", "aria-label": "Remover o campo " + (index + 1),
          onclick: () => { form.fields.splice(index, 1); renderFields(); changed(false); }, text: "Remover" }),
      ]),
    ]));
    if (!field || typeof field !== "object") {
      card.appendChild(el("p", { class: "erro-campo", text: "Este campo não é um objeto JSON; corrija na aba JSON." }));
      return card;
    }
    const grid = el("div", { class: "grade-campo" });
    grid.appendChild(input("Nome (variável)", field.name, (v) => { field.name = v.trim(); card.dataset.nome = field.name; },
      { "data-atributo": "name", spellcheck: "false" }));
    grid.appendChild(input("Rótulo", field.label, (v) => { field.label = v; title.textContent = (index + 1) + ". " + v; },
      { "data-atributo": "label" }));
    const typeId = "t" + index;
    const typeSelect = el("select", { id: typeId, "data-atributo": "type" },
      config.tipos.map((t) => el("option", { value: t.valor, text: t.rotulo, selected: t.valor === field.type })));
    if (!config.tipos.some((t) => t.valor === field.type)) {
      typeSelect.insertBefore(el("option", { value: field.type, text: "desconhecido: " + field.type, selected: true }),
        typeSelect.firstChild);
    }
    typeSelect.addEventListener("change", () => { changeType(field, typeSelect.value); renderFields(); changed(false); });
    grid.appendChild(el("div", { class: "campo campo-editor" }, [el("label", { for: typeId, text: "Tipo" }), typeSelect]));
    const reqId = "r" + index;
    const required = el("input", { type: "checkbox", id: reqId, "data-atributo": "required", checked: field.required === true });
    required.addEventListener("change", () => { setAttr(field, "required", required.checked); changed(false); });
    grid.appendChild(el("div", { class: "campo campo-editor campo-marcar" }, [required, el("label", { for: reqId, text: "Obrigatório" })]));
    grid.appendChild(input("Ajuda", field.help, (v) => setAttr(field, "help", v), { "data-atributo": "help" }));
    if (field.type !== "file" && field.type !== "choice") {
      grid.appendChild(input("Exemplo no campo (placeholder)", field.placeholder, (v) => setAttr(field, "placeholder", v),
        { "data-atributo": "placeholder" }));
    }
    if (field.type === "text" || field.type === "textarea") {
      grid.appendChild(input("Máximo de caracteres", field.max_length,
        (v) => setAttr(field, "max_length", numberOrText(v)), { "data-atributo": "max_length", inputmode: "numeric" }));
    }
    if (field.type === "money" || field.type === "number") {
      grid.appendChild(input("Mínimo", field.min_value, (v) => setAttr(field, "min_value", numberOrText(v)),
        { "data-atributo": "min_value", inputmode: "decimal" }));
      grid.appendChild(input("Máximo", field.max_value, (v) => setAttr(field, "max_value", numberOrText(v)),
        { "data-atributo": "max_value", inputmode: "decimal" }));
    }
    if (field.type === "file") {
      grid.appendChild(input("Extensões aceitas (separadas por vírgula)", (field.accept || []).join(", "),
        (v) => setAttr(field, "accept", v.split(",").map((s) => s.trim()).filter(Boolean)),
        { "data-atributo": "accept", placeholder: ".pdf, .jpg" }));
      grid.appendChild(input("Tamanho máximo (MB)", field.max_size_mb,
        (v) => setAttr(field, "max_size_mb", numberOrText(v)), { "data-atributo": "max_size_mb", inputmode: "numeric" }));
    }
    card.appendChild(grid);
    if (field.type === "choice") card.appendChild(choicesEditor(field));
    return card;
  }

  function choicesEditor(field) {
    if (!Array.isArray(field.choices)) field.choices = [];
    const box = el("fieldset", { class: "opcoes-editor" }, [el("legend", { text: "Opções" })]);
    field.choices.forEach((choice, index) => {
      const row = el("div", { class: "opcao-editor" });
      const value = el("input", { type: "text", "aria-label": "Valor da opção " + (index + 1), placeholder: "valor",
        "data-atributo": "choice-value", spellcheck: "false" });
      value.value = choice.value || "";
      value.addEventListener("input", () => { choice.value = value.value; changed(false); });
      const label = el("input", { type: "text", "aria-label": "Rótulo da opção " + (index + 1), placeholder: "rótulo",
        "data-atributo": "choice-label" });
      label.value = choice.label || "";
      label.addEventListener("input", () => { choice.label = label.value; changed(false); });
      row.append(value, label, el("button", { type: "button", class: "link remover", text: "Remover",
        "aria-label": "Remover a opção " + (index + 1),
        onclick: () => { field.choices.splice(index, 1); renderFields(); changed(false); } }));
      box.appendChild(row);
    });
    box.appendChild(el("button", { type: "button", class: "link", text: "+ Adicionar opção", onclick: () => {
      const n = field.choices.length + 1;
      field.choices.push({ value: "opcao_" + n, label: "Opção " + n });
      renderFields(); changed(false);
    } }));
    return box;
  }

  function renderFields() {
    list.innerHTML = "";
    $("#form-titulo").value = form.title || "";
    $("#form-descricao").value = form.description || "";
    form.fields.forEach((field, index) => list.appendChild(fieldCard(field, index)));
  }

  $("#form-titulo").addEventListener("input", (e) => { form.title = e.target.value; changed(false); });
  $("#form-descricao").addEventListener("input", (e) => { setAttr(form, "description", e.target.value); changed(false); });
  $("#adicionar-campo").addEventListener("click", () => {
    form.fields.push({ name: uniqueName("campo"), label: "Novo campo", type: "text" });
    renderFields(); changed(false);
    const cards = list.querySelectorAll(".cartao-campo");
    const last = cards[cards.length - 1];
    if (last) { last.scrollIntoView({ block: "nearest" }); last.querySelector("input").focus(); }
  });

  // -- tabs and the raw JSON -------------------------------------------------------------------
  function showTab(name) {
    if (name === "campos") {
      const parsed = parse(text);
      if (!parsed) {
        rawWarning.hidden = false;
        rawWarning.textContent = "Corrija o JSON (veja os problemas na prévia) antes de voltar à edição por campos.";
        return;
      }
      form = parsed;
      renderFields();
    }
    root.querySelectorAll(".aba").forEach((tab) => {
      const active = tab.dataset.aba === name;
      tab.classList.toggle("ativa", active);
      tab.setAttribute("aria-selected", active ? "true" : "false");
    });
    $("#aba-campos").hidden = name !== "campos";
    $("#aba-json").hidden = name !== "json";
    if (name === "json") rawText.value = text;
  }
  root.querySelectorAll(".aba").forEach((tab) => tab.addEventListener("click", () => showTab(tab.dataset.aba)));
  rawText.addEventListener("input", () => {
    text = rawText.value;
    const parsed = parse(text);
    rawWarning.hidden = true;
    if (parsed) form = parsed;
    changed(true);
  });

  // -- live preview ----------------------------------------------------------------------------
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    }).then((response) => response.json().catch(() => ({ erro: "Resposta inesperada do servidor (" + response.status + ")." }))
      .then((data) => ({ status: response.status, data })));
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(renderPreview, 250);
  }

  function renderPreview() {
    const seq = ++previewSeq;
    return post(config.urls.previa, { chave: config.chave, conteudo: text }).then(({ data }) => {
      if (seq !== previewSeq) return;
      previewProblems.innerHTML = "";
      const problems = data.problemas || (data.erro ? [data.erro] : []);
      if (problems.length) {
        previewProblems.appendChild(el("div", { class: "mensagem mensagem-erro", role: "alert" }, [
          el("strong", { text: data.html ? "Problemas que impedem publicar:" : "O formulário tem erros; a prévia mostra a última versão válida:" }),
          el("ul", { class: "lista-problemas" }, problems.map((p) => el("li", { text: p }))),
        ]));
      }
      preview.classList.toggle("previa-desatualizada", !data.html);
      if (data.html) preview.innerHTML = data.html;
      preview.dataset.versao = String(seq);
      preview.dataset.valido = data.ok ? "true" : "false";
    }).catch(() => {
      if (seq === previewSeq) previewProblems.textContent = "Não foi possível atualizar a prévia (sem conexão com o servidor).";
    });
  }
  // The preview is only to look at: its form never submits.
  preview.addEventListener("submit", (event) => event.preventDefault());

  // -- save / validate / publish ---------------------------------------------------------------
  function save() {
    return post(config.urls.salvar, { conteudo: text, revisao: revision }).then(({ status: code, data }) => {
      if (code !== 200) { showMessage("erro", data.erro || "O rascunho não foi salvo."); throw new Error("save"); }
      revision = data.revisao;
      dirty = false;
      setStatus(data.mensagem);
      return data;
    });
  }

  function run(action) {
    if (!open) { showMessage("aviso", "Este rascunho está fechado; abra um novo rascunho na página do formulário."); return; }
    showMessage();
    if (action === "salvar") {
      save().then((data) => {
        if (!data.valido) showMessage("aviso", "Rascunho salvo, mas ainda não pode ser publicado:", data.problemas);
      }).catch(() => {});
      return;
    }
    save().then(() => post(action === "validar" ? config.urls.validar : config.urls.publicar, {}))
      .then(({ status: code, data }) => {
        if (action === "validar") {
          showMessage(data.ok ? "sucesso" : "erro", data.mensagem || data.erro, data.problemas);
        } else if (code === 200) {
          open = false;
          root.classList.add("fechado");
          showMessage("sucesso", data.mensagem);
          messageBox.firstChild.appendChild(el("p", {}, [el("a", { href: data.historico, text: "Ver as versões do formulário" })]));
          setStatus("Publicado.");
        } else {
          showMessage("erro", data.erro || "Nada foi publicado.", data.problemas);
        }
      }).catch(() => {});
  }
  root.querySelectorAll("[data-acao]").forEach((button) => button.addEventListener("click", () => run(button.dataset.acao)));
  window.addEventListener("beforeunload", (event) => { if (dirty && open) { event.preventDefault(); event.returnValue = ""; } });

  // -- start -----------------------------------------------------------------------------------
  rawText.value = text;
  if (form) renderFields();
  else showTab("json");
  if (!open) root.classList.add("fechado");
  renderPreview().then(() => { root.dataset.pronto = "true"; });
})();
