"""The restricted evaluator every expression and script of a diagram runs in (script tasks, pre/post
scripts, gateway conditions, timer expressions, ``camunda:dueDate``, DMN expressions): RestrictedPython's
policy, made stricter, compiles the code; :mod:`engine.runtime.restricted_names` gives it its only names.

Refused when compiling — so "Validar" and deploy refuse it too (:func:`check`), with the reason in
Portuguese: ``import``; names starting with ``_``; ``getattr``, ``type``, ``vars``, ``globals``, ``open``,
``eval``, ``exec``, ``print``, ``breakpoint`` and the other names of :data:`FORBIDDEN_NAMES`; attributes
starting with ``_``, frame and code attributes (``gi_frame``, ``f_globals``...), ``format``/``format_map``
(format strings read attributes), ``mro``; ``class``, ``async``, ``nonlocal``, ``match``, ``except*``.

Rewritten when compiling, so that a run is bounded (see :mod:`engine.runtime.restricted_guards`): a step
at the top of every ``while`` body, function and lambda; ``**``, ``*``, ``<<``, ``+``, ``%`` and format
specs through size-checking functions; every call result, f-string and unpacking literal size-checked;
every ``except`` limited to ``Exception`` (the stop for time or memory cannot be caught).

Compiled code is cached per source text (an LRU), as conditions and timers are evaluated all the time.
"""

from __future__ import annotations

import ast
import copy
import functools
from dataclasses import dataclass
from types import CodeType
from typing import Any

from RestrictedPython import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment

from engine.runtime.restricted_guards import TIME_LIMIT_SECONDS, ScriptRefused, run
from engine.runtime.restricted_names import GUARDS, SAFE_BUILTINS, refused_attribute
from engine.runtime.restricted_static import ConstantChecks

#: The file name of compiled diagram code (SpiffWorkflow finds a script's failing line by it).
FILENAME = "<string>"

_INTERNALS = "dá acesso aos objetos internos do Python"
_TEXT_CODE = "executaria código montado num texto"
_INPUT_OUTPUT = "faz entrada e saída ou interrompe o servidor"
_VARIABLES = "para ler uma variável que pode não existir, use dado('nome') ou existe('nome')"
#: Names diagram code may not use, and why.
FORBIDDEN_NAMES: dict[str, str] = {
    **dict.fromkeys(("getattr", "setattr", "delattr", "hasattr", "dir", "type", "object", "super", "classmethod",
                     "staticmethod", "property", "memoryview"), _INTERNALS),
    **dict.fromkeys(("globals", "locals", "vars"), _VARIABLES),
    **dict.fromkeys(("eval", "exec", "compile"), _TEXT_CODE),
    **dict.fromkeys(("open", "input", "print", "printed", "breakpoint", "help", "exit", "quit"), _INPUT_OUTPUT),
    **dict.fromkeys(("iter", "aiter"), "percorreria valores sem controle de tempo"),
}

_OPERATOR_GUARDS = {ast.Pow: "_pow_", ast.Mult: "_mul_", ast.LShift: "_lshift_", ast.Add: "_add_", ast.Mod: "_mod_"}


def _call(function: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(function, ast.Load()), args=args, keywords=[])
    return ast.copy_location(node, where)


class DiagramCodePolicy(RestrictingNodeTransformer):
    """RestrictedPython's transformer with the refusals and rewrites above, and messages in Portuguese."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals: list[tuple[int | None, str]] = []
        self.constants = ConstantChecks()

    def refuse(self, node: ast.AST, message: str | None) -> None:
        if message is None:
            return
        self.refusals.append((getattr(node, "lineno", None), message))
        RestrictingNodeTransformer.error(self, node, message)

    def error(self, node: ast.AST, info: str) -> None:  # RestrictedPython's own checks
        self.refuse(node, f"construção não permitida ({info})")

    def not_allowed(self, node: ast.AST) -> None:
        self.refuse(node, f"a construção '{type(node).__name__}' não é permitida")

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        if name is None:
            return
        if name.startswith("_") and name != "_":
            self.refuse(node, f"o nome '{name}' não é permitido: nomes começados por '_' são reservados")
        elif name in FORBIDDEN_NAMES:
            self.refuse(node, f"o nome '{name}' não é permitido: {FORBIDDEN_NAMES[name]}")

    # -- refused outright ---------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> Any:
        self.refuse(node, "importação não é permitida; datetime, date, timedelta, Decimal e ROUND_HALF_UP já "
                          "estão disponíveis sem importar")
        return node

    visit_ImportFrom = visit_Import  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.refuse(node, "definição de classe (class) não é permitida")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in FORBIDDEN_NAMES:
            self.check_name(node, node.id)
            return node
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        reason = refused_attribute(node.attr)
        if reason:
            self.refuse(node, reason)
            return node
        return super().visit_Attribute(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        if isinstance(node.target, ast.Attribute | ast.Subscript):
            self.refuse(node, "atribuição com operador (+=, -=...) só é permitida numa variável; "
                              "escreva x[chave] = x[chave] + valor")
            return node
        return super().visit_AugAssign(node)

    # -- rewritten ----------------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_NAMES:
            self.check_name(node.func, node.func.id)
            return node
        visited = super().visit_Call(node)
        result = _call("_sized_", [visited], node)
        self.refuse(node, self.constants.call(result, visited))
        return result

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = super().visit_BinOp(node)
        guard = _OPERATOR_GUARDS.get(type(node.op))
        result = _call(guard, [node.left, node.right], node) if guard else node
        self.refuse(node, self.constants.binop(result, node.op, node.left, node.right))
        return result

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        node = super().visit_UnaryOp(node)
        self.constants.unary(node, node.op, node.operand)
        return node

    def _with_step(self, node: Any) -> Any:
        node.body.insert(0, ast.copy_location(ast.Expr(_call("_step_", [], node)), node))
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        if self.constants.endless(node):
            self.refuse(node, "laço sem fim: 'while' com condição sempre verdadeira e sem break, return ou raise")
        return self._with_step(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        return self._with_step(super().visit_FunctionDef(node))

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = ast.copy_location(ast.BoolOp(ast.Or(), [_call("_step_", [], node), node.body]), node)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> Any:
        node = super().visit_ExceptHandler(node)
        spec = node.type if node.type is not None else ast.copy_location(ast.Constant(None), node)
        node.type = _call("_catchable_", [spec], node)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node.value = self.visit(node.value)
        if node.format_spec is None:
            return node
        spec = node.format_spec  # a JoinedStr whose own values stay in place (a spec must be a JoinedStr)
        if isinstance(spec, ast.JoinedStr):
            spec.values = [self.visit(value) for value in spec.values]
        self.refuse(node, self.constants.format_spec(spec))
        value = _call("_format_", [node.value, ast.Constant(node.conversion), spec], node)
        return ast.copy_location(ast.FormattedValue(value=value, conversion=-1, format_spec=None), node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> Any:
        return _call("_sized_", [super().visit_JoinedStr(node)], node)

    def _sized_literal(self, node: Any) -> Any:
        loading = isinstance(getattr(node, "ctx", ast.Load()), ast.Load)
        if loading and any(isinstance(element, ast.Starred) for element in node.elts):
            return _call("_sized_", [node], node)
        return node

    def visit_List(self, node: ast.List) -> Any:
        node = super().visit_List(node)
        self.constants.literal(node)
        return self._sized_literal(node)

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        node = super().visit_Tuple(node)
        self.constants.literal(node)
        return self._sized_literal(node)

    def visit_Set(self, node: ast.Set) -> Any:
        return self._sized_literal(super().visit_Set(node))


@dataclass(frozen=True)
class Refusal:
    """Why diagram code does not compile: a syntax error, or something the evaluator refuses."""

    message: str
    line: int | None
    syntax: bool
    offset: int | None = None
    text: str | None = None

    def __str__(self) -> str:
        return f"{self.message} (linha {self.line})" if self.line else self.message


@functools.lru_cache(maxsize=4096)
def _compiled(source: str, mode: str) -> CodeType | Refusal:
    try:
        tree = ast.parse(source, FILENAME, mode)
    except SyntaxError as error:
        return Refusal(error.msg, error.lineno, True, error.offset, error.text)
    except ValueError as error:  # e.g. a NUL character
        return Refusal(str(error), None, True)
    policy = DiagramCodePolicy()
    tree = policy.visit(tree)
    if policy.refusals:
        line, message = policy.refusals[0]
        return Refusal(message, line, False)
    return compile(ast.fix_missing_locations(tree), FILENAME, mode)


def check(source: str, mode: str = "eval") -> Refusal | None:
    """Why ``source`` (``mode`` "eval": an expression, "exec": a script) would not run here, or ``None``."""
    compiled = _compiled(source, mode)
    return compiled if isinstance(compiled, Refusal) else None


def compile_restricted_code(source: str, mode: str) -> CodeType:
    """``source`` compiled under the policy; raises ``SyntaxError`` or :class:`ScriptRefused`."""
    compiled = _compiled(source, mode)
    if isinstance(compiled, Refusal):
        if compiled.syntax:
            raise SyntaxError(compiled.message, (FILENAME, compiled.line, compiled.offset, compiled.text))
        raise ScriptRefused(compiled.message, compiled.line)
    return compiled


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment (same data handling: the case's data are the code's
    variables, the helpers in ``environment_globals`` cannot be overwritten), running restricted code."""

    def __init__(self, environment_globals: dict[str, Any] | None = None,
                 time_limit: float = TIME_LIMIT_SECONDS) -> None:
        super().__init__(environment_globals)
        self.time_limit = time_limit

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code = compile_restricted_code(expression, "eval")
        namespace = copy.copy(self.globals)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(GUARDS)
        namespace["__builtins__"] = SAFE_BUILTINS
        return run(code, namespace, self.time_limit)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = compile_restricted_code(script, "exec")
        context.update(self.globals)
        context.update(external_context or {})
        context.update(GUARDS)
        context["__builtins__"] = SAFE_BUILTINS
        try:
            run(code, context, self.time_limit)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            for name in GUARDS:
                context.pop(name, None)
        return True
