"""What the restricted compiler can refuse before anything runs, from the code's constants alone: the
same size checks the guards make at run time (``'a' * 10**10``, ``10**10**10``, ``range(10**10)``,
``'x'.ljust(10**10)``, ``(1).to_bytes(10**10)``, ``f"{x:>999999999}"``, ``Decimal('1e999999')``,
``dado('__builtins__')``) applied to constant operands, and ``while True`` loops with no way out — so
"Validar" names them.

Constant sub-expressions are folded (their values remembered per node) only to check the expressions
around them; the compiled code still computes them through the guards.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

from engine.runtime.restricted_guards import (
    ScriptRefused,
    check_format_spec,
    check_mul,
    check_percent,
    guarded_add,
    guarded_lshift,
    guarded_mod,
    guarded_mul,
    guarded_pow,
)
from engine.runtime.restricted_names import Decimal, bounded_range, dado, guarded_getattr

_FOLD = {ast.Pow: guarded_pow, ast.Mult: guarded_mul, ast.LShift: guarded_lshift, ast.Add: guarded_add,
         ast.Mod: guarded_mod, ast.Sub: operator.sub, ast.FloorDiv: operator.floordiv, ast.RShift: operator.rshift,
         ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: operator.not_}
_CALLS = {"range": bounded_range, "Decimal": Decimal}
_SIZED_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join", "translate", "to_bytes"}
_UNKNOWN = object()


class ConstantChecks:
    """Remembers the constant value of the nodes it could fold, and says what a constant operation would
    refuse (a Portuguese reason) or ``None``."""

    def __init__(self) -> None:
        self.known: dict[int, Any] = {}
        self._nodes: list[ast.AST] = []  # keeps the folded nodes alive, so their ids stay theirs

    def value(self, node: ast.AST | None) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        return self.known.get(id(node), _UNKNOWN) if node is not None else _UNKNOWN

    def _remember(self, node: ast.AST, value: Any) -> None:
        self.known[id(node)] = value
        self._nodes.append(node)

    def _attempt(self, result: ast.AST, function: Any, *args: Any) -> str | None:
        try:
            self._remember(result, function(*args))
        except ScriptRefused as refused:
            return refused.reason
        except Exception:  # noqa: BLE001 - it fails at run time, as it would have
            return None
        return None

    def unary(self, result: ast.AST, op: ast.unaryop, operand: ast.AST) -> None:
        value = self.value(operand)
        if value is not _UNKNOWN and type(op) in _UNARY:
            self._attempt(result, _UNARY[type(op)], value)

    def binop(self, result: ast.AST, op: ast.operator, left: ast.AST, right: ast.AST) -> str | None:
        a, b = self.value(left), self.value(right)
        if a is not _UNKNOWN and b is not _UNKNOWN and type(op) in _FOLD:
            return self._attempt(result, _FOLD[type(op)], a, b)
        if isinstance(op, ast.Mod) and isinstance(a, str | bytes):
            return self._attempt(result, check_percent, a)
        if isinstance(op, ast.Mult):  # a literal list repeated: [0] * 10**10
            for sequence, times in ((left, b), (right, a)):
                if isinstance(sequence, ast.List | ast.Tuple) and isinstance(times, int):
                    return self._attempt(result, check_mul, [None] * len(sequence.elts), times)
        return None

    def literal(self, node: ast.List | ast.Tuple) -> None:
        values = [self.value(element) for element in node.elts]
        if _UNKNOWN not in values and isinstance(node.ctx, ast.Load):
            self._remember(node, values if isinstance(node, ast.List) else tuple(values))

    def call(self, result: ast.AST, node: ast.Call) -> str | None:
        """``node`` as RestrictedPython rewrote it (``x.m(...)`` is ``_getattr_(x, 'm')(...)``)."""
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            return None
        args = [self.value(arg) for arg in node.args]
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("dado", "existe") and args and isinstance(args[0], str):
            return self._attempt(result, lambda name: dado(name) if name.startswith("_") else None, args[0])
        if _UNKNOWN in args:
            return None
        if isinstance(func, ast.Name) and func.id in _CALLS:
            return self._attempt(result, _CALLS[func.id], *args)
        if (isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "_getattr_"
                and len(func.args) == 2 and self.value(func.args[1]) in _SIZED_METHODS):
            target = self.value(func.args[0])
            if isinstance(target, str | bytes | int):
                return self._attempt(result, lambda: guarded_getattr(target, func.args[1].value)(*args))
        return None

    @staticmethod
    def format_spec(spec: ast.AST) -> str | None:
        if isinstance(spec, ast.JoinedStr) and all(isinstance(part, ast.Constant) for part in spec.values):
            try:
                check_format_spec("".join(str(part.value) for part in spec.values))
            except ScriptRefused as refused:
                return refused.reason
        return None

    def endless(self, node: ast.While) -> bool:
        """A ``while`` whose test is a true constant and whose body has no ``break``, ``return`` or ``raise``."""
        test = self.value(node.test)
        if test is _UNKNOWN or not test:
            return False
        pending: list[ast.AST] = list(node.body)
        while pending:
            child = pending.pop()
            if isinstance(child, ast.Break | ast.Return | ast.Raise):
                return False
            if not isinstance(child, ast.FunctionDef | ast.Lambda):
                pending.extend(ast.iter_child_nodes(child))
        return True
