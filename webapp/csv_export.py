"""The CSV files the application writes: ``;``-separated, UTF-8 with a BOM (what a spreadsheet in
pt-BR opens as is), and every text cell a spreadsheet would read as a formula neutralised.

A name typed by a consumer or a company ("=HYPERLINK(...)", "+cmd|...", "@SUM(...)") must reach a
manager's spreadsheet as text, never as a formula (CSV injection): a text cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe. Numbers are left alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` unchanged, or, for a text that starts like a formula, the same text after an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def csv_response(header: Sequence[Any], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A download of the CSV, with the BOM and the ``attachment`` disposition."""
    response = Response("\ufeff" + csv_text(header, rows), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
