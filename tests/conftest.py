"""Shared fixtures: a real database (SQLite file, or PostgreSQL when ``DATABASE_URL`` is set),
a frozen engine clock, a runtime with the diagrams deployed, and people in every role."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import clock
from engine.actors import Actor
from engine.runtime import EngineConfig, Runtime
from engine.store.models import Base
from tasks.registry import default_registry

# 2 March 2026, a Monday, 10:00 in São Paulo.
START = dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("DATABASE_URL")
    return f"database: {'PostgreSQL ' + url.split('@')[-1] if url else 'SQLite (arquivo temporário)'}"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A clean database for one test."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'procon-test.sqlite3'}"
    from engine.store.db import make_engine

    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def frozen_clock() -> Iterator[clock.FrozenClock]:
    frozen = clock.FrozenClock(START)
    clock.set_clock(frozen)
    yield frozen
    clock.set_clock(None)


@pytest.fixture
def runtime(database_url: str, frozen_clock: clock.FrozenClock) -> Iterator[Runtime]:
    rt = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
    rt.init_db()
    yield rt
    rt.db.dispose()


@pytest.fixture
def atendente() -> Actor:
    return Actor("ana", "Ana Atendente", frozenset({"atendente"}))


@pytest.fixture
def atendente2() -> Actor:
    return Actor("caio", "Caio Atendente", frozenset({"atendente"}))


@pytest.fixture
def analista() -> Actor:
    return Actor("bia", "Bia Analista", frozenset({"analista"}))


@pytest.fixture
def conciliador() -> Actor:
    return Actor("davi", "Davi Conciliador", frozenset({"conciliador"}))


@pytest.fixture
def complaint() -> dict[str, str]:
    """A valid registration form, as a browser would post it."""
    return {
        "consumidor_nome": "João da Silva",
        "consumidor_cpf": "529.982.247-25",
        "consumidor_email": "joao@example.com",
        "consumidor_telefone": "(11) 98765-4321",
        "fornecedor_cnpj": "12.ABC.345/01DE-35",
        "fornecedor_nome": "Loja Exemplo Ltda",
        "canal": "presencial",
        "data_compra": "2026-02-10",
        "valor": "1.299,90",
        "fatos": "Comprei uma geladeira que chegou com defeito e a loja se recusa a trocar.",
        "pedido": "Troca do produto ou devolução do valor pago.",
    }
