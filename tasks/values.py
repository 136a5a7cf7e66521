"""Reading and writing the values handlers take from case data: CNPJ, money, dates.

Case data holds what the forms produce (``engine.forms.submission``): CNPJ formatted (``12.ABC.345/01DE-35``),
money as a decimal string (``"1234.56"``), dates as ISO strings. Deadlines computed by the engine
arrive as ISO datetimes that end the local day (``2026-03-12T23:59:59-03:00``): their date is read
as written, in its own offset. People may also have typed ``dd/mm/aaaa`` or ``1.234,56``.
Every problem becomes a :class:`PermanentError` that names the field in pt-BR. Documents write
dates as ``21/04/2026`` and money as ``R$ 1.234,50``, as every page of the system does.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from validate_docbr import CNPJ

from tasks.errors import PermanentError

_CNPJ_RE = re.compile(r"^[A-Z0-9]{12}[0-9]{2}$")
_CNPJ_VALIDATOR = CNPJ()
_BR_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:\.\d{3})+$")


def normalize_cnpj(value: Any) -> str:
    """``"12.abc.345/01de-35"`` → ``"12ABC34501DE35"`` (alphanumeric CNPJ, July 2026 on).

    :class:`PermanentError` when missing or invalid (format or check digits, via ``validate_docbr``).
    """
    if value is None or not str(value).strip():
        raise PermanentError("O CNPJ do fornecedor (fornecedor_cnpj) não foi informado.")
    chars = re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()
    if not _CNPJ_RE.match(chars) or not _CNPJ_VALIDATOR.validate(chars):
        raise PermanentError(f"O CNPJ do fornecedor informado ({value}) é inválido.")
    return chars


def format_cnpj(chars: str) -> str:
    """``"12ABC34501DE35"`` → ``"12.ABC.345/01DE-35"``; anything else is returned as is."""
    if len(chars) != 14:
        return chars
    return f"{chars[:2]}.{chars[2:5]}.{chars[5:8]}/{chars[8:12]}-{chars[12:]}"


def parse_amount(value: Any, label: str) -> Decimal:
    """``"15.000,00"``, ``"15000.00"``, ``15000`` → ``Decimal("15000.00")``: positive, two decimals."""
    if isinstance(value, bool):
        raise PermanentError(f"O campo {label} não contém um valor válido: {value}.")
    text = str(value).strip().replace("R$", "").replace(" ", "").replace("\u00a0", "")
    if "," in text or _THOUSANDS_RE.match(text):
        text = text.replace(".", "").replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise PermanentError(f"O campo {label} não contém um valor válido: {value}.") from None
    if not amount.is_finite() or amount <= 0:
        raise PermanentError(f"O campo {label} deve ser maior que zero (recebido: {value}).")
    return amount.quantize(Decimal("0.01"))


def parse_date(value: Any, label: str) -> dt.date:
    """An ISO date, an ISO datetime (its date as written) or ``dd/mm/aaaa``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value if value is not None else "").strip()
    try:
        match = _BR_DATE_RE.match(text)
        if match:
            day, month, year = (int(part) for part in match.groups())
            return dt.date(year, month, day)
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise PermanentError(f"O campo {label} não contém uma data válida: {text}.") from None


def format_date(day: dt.date) -> str:
    """``21/04/2026``: how a document writes a date."""
    return day.strftime("%d/%m/%Y")


def format_money(value: Decimal) -> str:
    """``Decimal("1234.5")`` -> ``"R$ 1.234,50"``: how a document writes an amount."""
    quantized = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{abs(quantized):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return f"{'-' if quantized < 0 else ''}R$ {text}"
