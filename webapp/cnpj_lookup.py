"""Look a company up by CNPJ through the app's service registry (``consultar_cnpj``), for the pages that need its
registered name and e-mail outside a case: proving a representative, the staff's Empresas queue."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from engine import clock
from tasks.context import TaskSettings
from webapp.runtime_access import runtime


@dataclass(frozen=True)
class CompanyRecord:
    """What the CNPJ service says of a company; ``problem`` (pt-BR) when it could not say."""

    name: str = ""
    email: str = ""
    situation: str = ""
    problem: str | None = None


def task_settings() -> TaskSettings:
    configured = current_app.config.get("TASK_SETTINGS")
    if isinstance(configured, TaskSettings):
        return configured
    try:
        return TaskSettings.from_env()
    except ValueError:
        return TaskSettings()


def company_record(cnpj: str) -> CompanyRecord:
    services = runtime().services
    settings = task_settings()
    if services is None or "consultar_cnpj" not in services or not settings.cnpj_api_url:
        return CompanyRecord(problem="A consulta de CNPJ não está disponível agora.")
    outcome = services.run("consultar_cnpj", {"fornecedor_cnpj": cnpj}, case_id=0, protocol="", unit="",
                           now=clock.now(), settings=settings)
    if outcome.error is not None:
        return CompanyRecord(problem=f"Não foi possível consultar o CNPJ: {outcome.error}")
    values = outcome.values
    return CompanyRecord(str(values.get("fornecedor_nome") or ""), str(values.get("fornecedor_email") or ""),
                         str(values.get("fornecedor_situacao") or ""))
