"""Jinja filters: dates in the agency's time zone (dd/mm/aaaa), days left, money, masked CPF."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Flask

from engine import clock
from engine.forms.submission import format_brl
from engine.store.protocol import AGENCY_TZ


def local(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(AGENCY_TZ) if value is not None else None


def data(value: dt.datetime | None) -> str:
    return local(value).strftime("%d/%m/%Y") if value is not None else "—"


def data_hora(value: dt.datetime | None) -> str:
    return local(value).strftime("%d/%m/%Y %H:%M") if value is not None else "—"


def data_iso(value: str | None) -> str:
    """An ISO date string from a form (2026-03-02) as 02/03/2026."""
    if not value:
        return "—"
    try:
        return dt.date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def dias_restantes(value: dt.datetime | None) -> int | None:
    """Calendar days from today to the due date in the agency's time zone (negative = overdue)."""
    if value is None:
        return None
    today = clock.now().astimezone(AGENCY_TZ).date()
    return (value.astimezone(AGENCY_TZ).date() - today).days


def vencido(value: dt.datetime | None) -> bool:
    return value is not None and value < clock.now()


def prazo_texto(value: dt.datetime | None) -> str:
    days = dias_restantes(value)
    if days is None:
        return "sem prazo"
    if vencido(value):
        return "vencido" if days >= 0 else f"vencido há {-days} dia{'s' if days != -1 else ''}"
    if days == 0:
        return "vence hoje"
    return f"{days} dia{'s' if days != 1 else ''} restante{'s' if days != 1 else ''}"


def dinheiro(value: Any) -> str:
    try:
        return format_brl(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def cpf_mascarado(value: str | None) -> str:
    """LGPD: lists show ***.456.789-** only."""
    if not value or len(value) != 14:
        return "—" if not value else "***"
    return f"***.{value[4:11]}-**"


def register(app: Flask) -> None:
    for function in (data, data_hora, data_iso, dias_restantes, vencido, prazo_texto, dinheiro, cpf_mascarado):
        app.add_template_filter(function)
    app.jinja_env.globals["agora"] = clock.now
