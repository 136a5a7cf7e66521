"""What restricted diagram code runs with: the allow-listed builtins and the guards the restricted
compiler (:mod:`engine.runtime.restricted`) routes operations through, which bound the time, the memory
growth and the size of every result.

Limits, each refused with a Portuguese :class:`ScriptRefused`:

- time: every loop iteration, every function call and every item a loop takes is a *step*; a step after
  the deadline (``time_limit`` seconds) stops the code, and so does every later one, so neither a
  ``finally`` nor an ``except`` lets it go on (no handler in diagram code can catch the stop);
- memory: every 64 steps, the process's peak memory may not have grown by more than
  :data:`MEMORY_BUDGET_BYTES` since the code started (an in-process guard; the sandbox's own process
  adds hard limits);
- size: an operation that could multiply a value (``**``, ``*``, ``<<``, ``%`` and format widths,
  ``ljust``/``replace``/``join``..., ``range``) is checked *before* it allocates, and every call result,
  f-string, concatenation and unpacking literal is at most :data:`MAX_LENGTH` long; decimals run in a
  context whose exponents stay within :data:`MAX_DECIMAL_EXPONENT`.
"""

from __future__ import annotations

import decimal
import operator
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

TIME_LIMIT_SECONDS = 3.0
MEMORY_BUDGET_BYTES = 256 * 2**20
MAX_LENGTH = 1_000_000  # characters of a string, items of a list or a range
MAX_INT_BITS = 16_384  # about 4,900 decimal digits
MAX_FORMAT_WIDTH = 10_000  # width or precision in a format: f"{x:>20}", "%.2f"
MAX_DECIMAL_EXPONENT = 4_300

#: Attribute names refused besides those starting with "_": frames, code and format strings.
REFUSED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"format", "format_map", "mro"}


class ScriptRefused(Exception):
    """Diagram code refused by the restricted evaluator (at compile time or at run time); the message
    is in Portuguese and says what was refused."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"{message} (linha {line})" if line else message)
        self.reason, self.line = message, line


class _Stop(BaseException):
    """Stops diagram code that ran out of time or memory: not an ``Exception``, so no handler in it catches it."""


def _peak_memory() -> int:
    if resource is None:  # pragma: no cover
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


class Budget:
    """The time and memory one run of diagram code may use."""

    __slots__ = ("deadline", "time_limit", "memory_budget", "steps", "baseline", "exhausted")

    def __init__(self, time_limit: float, memory_budget: int = MEMORY_BUDGET_BYTES) -> None:
        self.time_limit, self.memory_budget = time_limit, memory_budget
        self.deadline = time.monotonic() + time_limit
        self.steps = 0
        self.baseline: int | None = None
        self.exhausted: str | None = None

    def step(self) -> None:
        if self.exhausted is None and time.monotonic() > self.deadline:
            self.exhausted = (f"o código passou do tempo limite de {self.time_limit:g} s e foi interrompido "
                              "(um laço sem fim?)")
        self.steps += 1
        if self.exhausted is None and not self.steps & 63:
            peak = _peak_memory()
            if self.baseline is None:
                self.baseline = peak
            elif peak - self.baseline > self.memory_budget:
                self.exhausted = (f"o código passou do limite de memória ({self.memory_budget // 2**20} MB) "
                                  "e foi interrompido")
        if self.exhausted is not None:
            raise _Stop


_BUDGET: ContextVar[Budget | None] = ContextVar("procon_script_budget", default=None)
_NAMESPACE: ContextVar[dict[str, Any] | None] = ContextVar("procon_script_namespace", default=None)
_DECIMALS = decimal.Context(prec=28, Emax=MAX_DECIMAL_EXPONENT, Emin=-MAX_DECIMAL_EXPONENT,
                            traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


def run(code: Any, namespace: dict[str, Any], time_limit: float = TIME_LIMIT_SECONDS) -> Any:
    """Run compiled restricted ``code`` in ``namespace`` within a fresh :class:`Budget`."""
    budget = Budget(time_limit)
    budget_token, namespace_token = _BUDGET.set(budget), _NAMESPACE.set(namespace)
    try:
        with decimal.localcontext(_DECIMALS):
            return eval(code, namespace)  # noqa: S307 - restricted code, restricted builtins
    except _Stop:
        raise ScriptRefused(budget.exhausted or "o código foi interrompido") from None
    finally:
        _NAMESPACE.reset(namespace_token)
        _BUDGET.reset(budget_token)


def current_namespace() -> dict[str, Any]:
    """The variables of the code being run (the case's data, its own variables, the helpers)."""
    namespace = _NAMESPACE.get()
    if namespace is None:
        raise ScriptRefused("código do diagrama executado fora do avaliador")
    return namespace


def step() -> None:
    budget = _BUDGET.get()
    if budget is None:
        raise ScriptRefused("código do diagrama executado fora do avaliador")
    budget.step()


def _counted(iterator: Iterator[Any], budget: Budget) -> Iterator[Any]:
    for item in iterator:
        budget.step()
        yield item


def getiter(ob: Any) -> Iterator[Any]:
    budget = _BUDGET.get()
    if budget is None:
        raise ScriptRefused("código do diagrama executado fora do avaliador")
    return _counted(iter(ob), budget)


# -- sizes ------------------------------------------------------------------------------------------------
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
_SEQUENCES = (str, bytes, bytearray, list, tuple)


def too_big(what: str) -> ScriptRefused:
    return ScriptRefused(f"{what}: o resultado passaria do tamanho máximo ({MAX_LENGTH:,} itens)".replace(",", "."))


def sized(value: Any) -> Any:
    if isinstance(value, _SIZED) and len(value) > MAX_LENGTH:
        raise too_big("valor grande demais")
    return value


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ScriptRefused(f"{what}: o número teria mais de {MAX_INT_BITS} bits")


def guarded_pow(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_bits(base.bit_length() * exponent, "potência grande demais")
    return base**exponent


def _repeat_count(sequence: Any, times: Any) -> None:
    if times > 0 and len(sequence) * times > MAX_LENGTH:
        raise too_big("repetição grande demais")


def check_mul(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length(), "multiplicação grande demais")
    elif isinstance(left, _SEQUENCES) and isinstance(right, int):
        _repeat_count(left, right)
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _repeat_count(right, left)


def guarded_mul(left: Any, right: Any) -> Any:
    check_mul(left, right)
    return left * right


def guarded_lshift(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and left:
        _check_bits(left.bit_length() + right, "deslocamento grande demais")
    return left << right


def check_add(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES) and len(left) + len(right) > MAX_LENGTH:
        raise too_big("concatenação grande demais")


def guarded_add(left: Any, right: Any) -> Any:
    check_add(left, right)
    return left + right


_PERCENT_SPEC = re.compile(rb"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_widths(numbers: list[str], what: str) -> None:
    for number in numbers:
        if number == "*" or (number and int(number) > MAX_FORMAT_WIDTH):
            raise ScriptRefused(f"{what}: largura ou precisão acima de {MAX_FORMAT_WIDTH} (ou '*') não é permitida")


def check_percent(pattern: str | bytes) -> None:
    """Refuse a ``%`` format whose widths or precisions could build a huge text (``'%0999999999d'``)."""
    raw = pattern.encode("utf-8", "surrogatepass") if isinstance(pattern, str) else pattern
    for width, precision in _PERCENT_SPEC.findall(raw):
        _check_widths([width.decode(), precision.decode()], "formatação com %")


def check_format_spec(spec: str) -> None:
    """The same for the format spec of an f-string (``f"{x:>999999999}"``)."""
    _check_widths(re.findall(r"\d+", spec), "formato de f-string")


def guarded_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        check_percent(left)
        return sized(left % right)
    return left % right


def guarded_format(value: Any, conversion: int, spec: str) -> str:
    check_format_spec(spec)
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    return sized(format(value, spec))


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv, ">>=": operator.irshift,
    "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand, "@=": operator.imatmul,
    "**=": guarded_pow, "<<=": guarded_lshift, "%=": guarded_mod,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``x += y`` and the other augmented assignments (of a variable: the compiler refuses the others)."""
    if op == "+=":
        check_add(target, value)
        return operator.iadd(target, value)
    if op == "*=":
        check_mul(target, value)
        return operator.imul(target, value)
    return _INPLACE[op](target, value)
