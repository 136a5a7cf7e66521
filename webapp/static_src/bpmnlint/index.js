// Procon Flow's lint bundle for the modeler page: bpmn-js-bpmnlint (overlays on elements and the
// button with counts) + bpmnlint with our packed .bpmnlintrc + a pt-BR translate service for the
// texts the linting module shows. Built by build.mjs into webapp/static/vendor/bpmnlint/procon-lint.js,
// which sets window.ProconLint = { lintModule, config, translateModule, messages }.
import lintModule from "bpmn-js-bpmnlint";
import packedConfig from "procon-lint-config";

// Texts of bpmn-js-bpmnlint and of the bundled bpmnlint rules, in Brazilian Portuguese.
const messages = {
  "{errors} Errors, {warnings} Warnings": "{errors} erro(s), {warnings} aviso(s)",
  "No Issues": "Nenhum problema",
  "Toggle linting overlays": "Mostrar ou ocultar os problemas apontados no diagrama",
  "Issues for child elements": "Problemas nos elementos internos",
  "A <Sequence Flow> outgoing from an <Event-based Gateway> must not be conditional":
    "Um fluxo que sai de um gateway baseado em eventos não pode ter condição",
  "A <Start Event> is not allowed in <Ad Hoc Sub Process>": "Subprocesso ad hoc não pode ter evento de início",
  "An <End Event> is not allowed in <Ad Hoc Sub Process>": "Subprocesso ad hoc não pode ter evento de fim",
  "An <Event-based Gateway> must have at least 2 outgoing <Sequence Flows>":
    "Um gateway baseado em eventos precisa de pelo menos 2 fluxos de saída",
  "Conditional event is missing a condition": "Evento condicional sem condição",
  "Duplicate incoming sequence flows": "Fluxos de entrada duplicados",
  "Duplicate outgoing sequence flows": "Fluxos de saída duplicados",
  "Element is an implicit end": "O elemento termina o fluxo sem um evento de fim",
  "Element is an implicit start": "O elemento começa o fluxo sem um evento de início",
  "Element is missing bpmndi": "O elemento não tem desenho (BPMNDI)",
  "Element is missing label/name": "O elemento está sem nome",
  "Element is missing name": "O elemento está sem nome",
  "Element is not connected": "O elemento não está ligado a nenhum fluxo",
  "Element is outside of parent boundary": "O elemento está fora dos limites do elemento pai",
  "Element is unused": "O elemento não é usado",
  "Element name is not unique": "O nome do elemento se repete",
  "Element overlaps with other element": "O elemento se sobrepõe a outro",
  "Event has multiple event definitions": "O evento tem mais de uma definição de evento",
  "Flow splits implicitly": "O fluxo se divide sem um gateway",
  "Gateway forks and joins": "O gateway junta e divide fluxos ao mesmo tempo",
  "Gateway is superfluous. It only has one source and target.":
    "Gateway desnecessário: tem só uma entrada e uma saída.",
  "Incoming flows do not join": "Os fluxos de entrada não se juntam (falta um gateway de junção)",
  "Link event is missing link name": "Evento de ligação sem nome de ligação",
  "Sequence flow has superfluous label": "Fluxo com rótulo desnecessário",
  "Sequence flow is missing condition": "Fluxo de saída sem condição",
  "SequenceFlow is a duplicate": "Fluxo duplicado",
  "Start event is missing event definition": "Evento de início sem definição de evento",
  "Start event must be blank": "O evento de início deve ser simples (sem definição)",
  "Termination is superfluous.": "Evento de término desnecessário.",
  "Process is missing end event": "O processo não tem evento de fim",
  "Process is missing start event": "O processo não tem evento de início",
  "Process has multiple blank start events": "O processo tem mais de um evento de início simples",
  "Sub process is missing end event": "O subprocesso não tem evento de fim",
  "Sub process is missing start event": "O subprocesso não tem evento de início",
  "Sub process has multiple blank start events": "O subprocesso tem mais de um evento de início simples"
};

// Same contract as diagram-js' translate: look the template up, then fill {placeholders}.
function translate(template, replacements) {
  const text = Object.prototype.hasOwnProperty.call(messages, template) ? messages[template] : template;
  const values = replacements || {};
  return text.replace(/{([^}]+)}/g, (match, key) => (key in values ? values[key] : match));
}

const translateModule = { translate: ["value", translate] };

window.ProconLint = { lintModule, config: packedConfig, translateModule, messages, translate };
