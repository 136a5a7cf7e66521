"""The names restricted diagram code can use: the allow-list of builtins (with ``range``, ``sum`` and
``Decimal`` bounded), ``dado``/``existe`` for the case's optional variables, and the guard functions the
restricted compiler (:mod:`engine.runtime.restricted`) calls in place of attribute access, iteration,
item writes and the operators that could build huge values.

Nothing here gives access to a module, a frame, a code object or a name starting with ``_``.
"""

from __future__ import annotations

import builtins
import datetime as dt
import decimal
import operator
from collections.abc import Callable
from typing import Any

from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence

from engine.runtime.restricted_guards import (
    MAX_DECIMAL_EXPONENT,
    MAX_LENGTH,
    REFUSED_ATTRIBUTES,
    ScriptRefused,
    current_namespace,
    getiter,
    guarded_add,
    guarded_format,
    guarded_inplacevar,
    guarded_lshift,
    guarded_mod,
    guarded_mul,
    guarded_pow,
    sized,
    step,
    too_big,
)


# -- the case's variables ---------------------------------------------------------------------------------
def _variable(nome: Any) -> str:
    if not isinstance(nome, str) or nome.startswith("_"):
        raise ScriptRefused(f"nome de variável não permitido: {nome!r}")
    return nome


def dado(nome: str, padrao: Any = None) -> Any:
    """The case variable ``nome``, or ``padrao`` when the case has none (e.g. an optional input of a
    called process): ``dado('consumidor_email')``."""
    name = _variable(nome)
    return current_namespace().get(name, padrao)


def existe(nome: str) -> bool:
    """Whether the case has a variable ``nome`` (``if existe('x'): del x`` removes it)."""
    name = _variable(nome)
    return name in current_namespace()


# -- bounded builtins -------------------------------------------------------------------------------------
def bounded_range(*args: int) -> range:
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = MAX_LENGTH + 1
    if length > MAX_LENGTH:
        raise too_big("range grande demais")
    return numbers


def numeric_sum(iterable: Any, start: Any = 0) -> Any:
    """``sum`` of numbers only (``sum(listas, [])`` would concatenate without any bound)."""
    if not isinstance(start, int | float | decimal.Decimal):
        raise ScriptRefused("sum só soma números; para juntar listas ou textos use + ou join")
    return sum(iterable, start)


class _DecimalType(type):
    """Makes :class:`Decimal` build plain ``decimal.Decimal`` values, and be their type for ``isinstance``."""

    def __call__(cls, value: Any = "0") -> decimal.Decimal:  # type: ignore[override]
        number = decimal.Decimal(value)
        if number.is_finite() and abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise ScriptRefused(f"Decimal com expoente acima de {MAX_DECIMAL_EXPONENT} não é permitido")
        return number

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, decimal.Decimal)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, decimal.Decimal)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(decimal.Decimal, name)


class Decimal(metaclass=_DecimalType):
    """``decimal.Decimal`` for diagram code, with exponents bounded (``int(Decimal('1e999999'))`` would run
    for a minute)."""


# -- attribute access -------------------------------------------------------------------------------------
def _width_checked(name: str) -> Callable[..., Any]:
    def method(text: Any, width: Any, *args: Any) -> Any:
        if isinstance(width, int) and width > MAX_LENGTH:
            raise too_big(f"'{name}' grande demais")
        return getattr(text, name)(width, *args)
    return method


def _expandtabs(text: Any, tabsize: int = 8) -> Any:
    tab = "\t" if isinstance(text, str) else b"\t"
    if len(text) + text.count(tab) * max(tabsize, 0) > MAX_LENGTH:
        raise too_big("'expandtabs' grande demais")
    return text.expandtabs(tabsize)


def _replace(text: Any, old: Any, new: Any, count: int = -1) -> Any:
    found = text.count(old) if len(old) else len(text) + 1
    if count >= 0:
        found = min(found, count)
    if len(text) + found * (len(new) - len(old)) > MAX_LENGTH:
        raise too_big("'replace' grande demais")
    return text.replace(old, new, count)


def _join(separator: Any, iterable: Any) -> Any:
    items = list(iterable)
    total = sum(len(item) for item in items if hasattr(item, "__len__")) + len(separator) * max(len(items) - 1, 0)
    if total > MAX_LENGTH:
        raise too_big("'join' grande demais")
    return separator.join(items)


def _translate(text: Any, table: Any) -> Any:
    if isinstance(text, str) and isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        if len(text) * longest > MAX_LENGTH:
            raise too_big("'translate' grande demais")
    return text.translate(table)


_TEXT_METHODS: dict[str, Callable[..., Any]] = {
    **{name: _width_checked(name) for name in ("ljust", "rjust", "center", "zfill")},
    "expandtabs": _expandtabs, "replace": _replace, "join": _join, "translate": _translate,
}


_TYPE_METHODS = {*_TEXT_METHODS, "extend", "to_bytes"}


def _extend(items: list[Any], more: Any) -> None:
    more = more if isinstance(more, list | tuple | str) else list(more)
    if len(items) + len(more) > MAX_LENGTH:
        raise too_big("'extend' grande demais")
    items.extend(more)


def _to_bytes(number: int, length: int = 1, *args: Any, **kwargs: Any) -> bytes:
    if isinstance(length, int) and length > MAX_LENGTH:
        raise too_big("'to_bytes' grande demais")
    return number.to_bytes(length, *args, **kwargs)


def refused_attribute(name: str) -> str | None:
    """Why diagram code may not read attribute ``name`` (``None``: it may)."""
    if name.startswith("_"):
        return f"o atributo '{name}' não é permitido: atributos começados por '_' dão acesso ao interpretador"
    if name in ("format", "format_map"):
        return f"o método '{name}' não é permitido: use uma f-string, como f\"{{valor}}\""
    if name in REFUSED_ATTRIBUTES:
        return f"o atributo '{name}' não é permitido: dá acesso ao interpretador (quadros, código, classes)"
    return None


def guarded_getattr(ob: Any, name: str, *default: Any) -> Any:
    if not isinstance(name, str):
        raise TypeError("o nome de um atributo é um texto")
    reason = refused_attribute(name)
    if reason:
        raise ScriptRefused(reason)
    if isinstance(ob, str | bytes) and name in _TEXT_METHODS:
        checked = _TEXT_METHODS[name]
        return lambda *args, **kwargs: checked(ob, *args, **kwargs)
    if isinstance(ob, list) and name == "extend":
        return lambda more: _extend(ob, more)
    if isinstance(ob, int) and name == "to_bytes":
        return lambda *args, **kwargs: _to_bytes(ob, *args, **kwargs)
    if isinstance(ob, type) and issubclass(ob, str | bytes | bytearray | list | int) and name in _TYPE_METHODS:
        raise ScriptRefused(f"use o método '{name}' no próprio valor (texto.{name}(...)), não no tipo")
    return getattr(ob, name, *default)


def catchable(spec: Any) -> Any:
    """What an ``except`` clause of diagram code may catch: ``Exception`` and its subclasses only
    (a bare ``except:`` catches ``Exception``), so the stop for time or memory always goes through."""
    if spec is None:
        return Exception
    classes = spec if isinstance(spec, tuple) else (spec,)
    return tuple(c for c in classes if isinstance(c, type) and issubclass(c, Exception))


def _apply(function: Any, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


_ALLOWED = ("abs", "all", "any", "bool", "chr", "dict", "divmod", "enumerate", "float", "frozenset", "int",
            "isinstance", "len", "list", "max", "min", "ord", "repr", "reversed", "round", "set", "sorted", "str",
            "tuple", "zip",
            "ArithmeticError", "AttributeError", "Exception", "IndexError", "KeyError", "LookupError", "NameError",
            "RecursionError", "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError")

#: The ``__builtins__`` of every run: the allow-list, the values diagrams use, and the guards.
SAFE_BUILTINS: dict[str, Any] = {
    **{name: getattr(builtins, name) for name in _ALLOWED},
    "range": bounded_range, "sum": numeric_sum, "Decimal": Decimal, "ROUND_HALF_UP": decimal.ROUND_HALF_UP,
    "date": dt.date, "datetime": dt.datetime, "timedelta": dt.timedelta, "dado": dado, "existe": existe,
    "_getattr_": guarded_getattr, "_getitem_": operator.getitem, "_getiter_": getiter, "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": guarded_inplacevar, "_apply_": _apply, "_step_": step, "_sized_": sized,
    "_pow_": guarded_pow, "_mul_": guarded_mul, "_lshift_": guarded_lshift, "_add_": guarded_add,
    "_mod_": guarded_mod, "_format_": guarded_format, "_catchable_": catchable,
}
#: The guards alone: set over the case's data in every namespace, so no data key can stand for one.
GUARDS = {name: value for name, value in SAFE_BUILTINS.items() if name.startswith("_")}
