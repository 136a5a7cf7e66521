"""Public pages, no login: suppliers' complaint records and the cadastro de reclamações fundamentadas.

- ``/publico/fornecedores?q=`` — find a supplier by name or CNPJ among the suppliers of complaints.
- ``/publico/fornecedores/<cnpj>`` — a supplier's complaint record: complaints per year of registration,
  how many were answered, resolved, classified fundamentada (attended or not), archived, still open.
- ``/publico/cadastro?ano=AAAA`` (and ``&formato=csv``) — the cadastro de reclamações fundamentadas
  (CDC art. 44): per supplier, the fundamentada complaints classified in that year, attended or not.

What the figures mean (read from the reclamacao diagram and its forms):

- A complaint is a case of process ``reclamacao``; its supplier is its ``case_parties`` row of role
  ``fornecedor`` (the canonical CNPJ).
- **Fundamentada**: the complaint closed through the classification gateway with ``desfecho``
  ``fundamentada_atendida`` or ``fundamentada_nao_atendida`` (forms ``analise_reclamacao`` and
  ``classificacao_reclamacao``; end events "Encerrada: fundamentada atendida / não atendida"). **Atendida**
  means the supplier met the consumer's claim; **não atendida**, it did not. ``arquivada`` is
  "não fundamentada" and is not in the cadastro.
- **Resolvida**: closed in the consumer's favour — in the preliminary contact, by an accepted proposal,
  by an agreement in the hearing, by the analyst ("resolvida"), or fundamentada atendida. That is every
  closed complaint whose ``desfecho`` is neither ``fundamentada_nao_atendida`` nor ``arquivada``.
- **Respondida**: the supplier answered the CIP (``cip_respondida``) or solved the case in the
  preliminary contact (``resultado_preliminar == 'resolvida'``), before any CIP was needed.
- The record counts complaints by the **year they were registered**; the cadastro counts them by the
  **year they were classified** (``closed_at``), in the agency's time zone, as a yearly publication does.

No consumer data is read or shown: the queries select only the case's dates, status and the few
outcome keys above from ``cases.data`` (JSON paths, in SQL), and the supplier's name from ``summary``.
No workflow is deserialized.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.forms.submission import canonical_cnpj
from engine.parties.case_parties import CASE_PARTIES
from engine.parties.companies import public_names, verified_company_ids
from engine.parties.models import SupplierCompany
from engine.store.models import Case
from engine.store.protocol import AGENCY_TZ
from webapp.csv_export import csv_response
from webapp.runtime_access import db_session

bp = Blueprint("public", __name__, url_prefix="/publico")

COMPLAINT = "reclamacao"
ATENDIDA, NAO_ATENDIDA, ARQUIVADA = "fundamentada_atendida", "fundamentada_nao_atendida", "arquivada"
FUNDAMENTADAS = (ATENDIDA, NAO_ATENDIDA)
SEARCH_LIMIT = 50
FIRST_YEAR = 1991  # the CDC came into force in March 1991


def cnpj_slug(cnpj: str) -> str:
    """The CNPJ as it goes in a URL: its 14 characters, no punctuation (a '/' cannot be in a path segment)."""
    return re.sub(r"[^0-9A-Za-z]", "", cnpj)


def _supplier_of(cnpj: str) -> Any:
    return CASE_PARTIES.c.role == "fornecedor", CASE_PARTIES.c.party_key == cnpj


def _names(session: Session, cnpjs: list[str]) -> dict[str, str]:
    """A display name per CNPJ: the proven company's public name (from the CNPJ service or the Procon's staff,
    never what a pending account typed), else the name written on its complaints."""
    if not cnpjs:
        return {}
    names = public_names(session, cnpjs)
    missing = [c for c in cnpjs if c not in names]
    if missing:
        written = func.max(Case.summary["fornecedor_nome"].as_string())
        names.update({cnpj: name or cnpj for cnpj, name in session.execute(
            select(CASE_PARTIES.c.party_key, written).join(Case, Case.id == CASE_PARTIES.c.case_id)
            .where(CASE_PARTIES.c.role == "fornecedor", CASE_PARTIES.c.party_key.in_(missing))
            .group_by(CASE_PARTIES.c.party_key))})
    return names


# -- search -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    cnpj: str
    name: str
    complaints: int


def search_suppliers(session: Session, text: str) -> list[Found]:
    """Suppliers of complaints whose CNPJ is ``text`` or whose name contains it."""
    text = text.strip()
    if not text:
        return []
    cnpj = canonical_cnpj(text)
    supplier_rows = (select(CASE_PARTIES.c.party_key).join(Case, Case.id == CASE_PARTIES.c.case_id)
                     .where(CASE_PARTIES.c.role == "fornecedor", Case.process_id == COMPLAINT))
    if cnpj is not None:
        matching = supplier_rows.where(CASE_PARTIES.c.party_key == cnpj)
    else:
        pattern = f"%{text[:100]}%"
        registered = select(SupplierCompany.cnpj).where(SupplierCompany.name.ilike(pattern),
                                                        SupplierCompany.id.in_(verified_company_ids()))
        matching = supplier_rows.where(or_(Case.summary["fornecedor_nome"].as_string().ilike(pattern),
                                           CASE_PARTIES.c.party_key.in_(registered),
                                           CASE_PARTIES.c.party_key.ilike(pattern)))
    complaints = func.count(Case.id)
    query = supplier_rows.add_columns(complaints).where(CASE_PARTIES.c.party_key.in_(matching.distinct()))
    rows = session.execute(query.group_by(CASE_PARTIES.c.party_key)
                           .order_by(complaints.desc(), CASE_PARTIES.c.party_key).limit(SEARCH_LIMIT)).all()
    names = _names(session, [key for key, _n in rows])
    return [Found(key, names.get(key, key), count) for key, count in rows]


@bp.route("/fornecedores")
def suppliers() -> Any:
    text = request.args.get("q", "")
    found = search_suppliers(db_session(), text) if text.strip() else []
    return render_template("public/fornecedores.html", q=text, encontrados=found, slug=cnpj_slug)


# -- a supplier's record ---------------------------------------------------------------------------------------
@dataclass
class YearRecord:
    year: int
    registered: int = 0
    answered: int = 0
    resolved: int = 0
    attended: int = 0
    not_attended: int = 0
    archived: int = 0
    open: int = 0

    @property
    def fundamentadas(self) -> int:
        return self.attended + self.not_attended


def _truthy(value: Any) -> bool:
    """A JSON boolean read as text: SQLite gives 1 / 0, PostgreSQL 'true' / 'false'."""
    return str(value).strip().lower() in ("1", "true")


def _local_year(moment: dt.datetime) -> int:
    return moment.astimezone(AGENCY_TZ).year


def supplier_record(session: Session, cnpj: str) -> list[YearRecord]:
    """The supplier's complaints per year of registration, newest year first."""
    desfecho = Case.data["desfecho"].as_string()
    answered = Case.data["cip_respondida"].as_string()
    preliminary = Case.data["resultado_preliminar"].as_string()
    rows = session.execute(
        select(Case.created_at, Case.status, desfecho, answered, preliminary)
        .join(CASE_PARTIES, CASE_PARTIES.c.case_id == Case.id)
        .where(*_supplier_of(cnpj), Case.process_id == COMPLAINT)).all()
    years: dict[int, YearRecord] = {}
    for created_at, status, outcome, cip_answered, preliminary_result in rows:
        record = years.setdefault(_local_year(created_at), YearRecord(_local_year(created_at)))
        record.registered += 1
        if _truthy(cip_answered) or preliminary_result == "resolvida":
            record.answered += 1
        if status != "encerrado":
            record.open += 1
            continue
        if outcome == ATENDIDA:
            record.attended += 1
        elif outcome == NAO_ATENDIDA:
            record.not_attended += 1
        elif outcome == ARQUIVADA:
            record.archived += 1
        if outcome not in (NAO_ATENDIDA, ARQUIVADA):
            record.resolved += 1
    return [years[year] for year in sorted(years, reverse=True)]


@bp.route("/fornecedores/<cnpj>")
def supplier(cnpj: str) -> Any:
    written = canonical_cnpj(cnpj)
    if written is None:
        return render_template("public/fornecedores.html", q=cnpj, encontrados=[], slug=cnpj_slug,
                               erro="CNPJ inválido: confira os 14 caracteres."), 404
    session = db_session()
    record = supplier_record(session, written)
    if not record:
        return render_template("public/fornecedores.html", q=written, encontrados=[], slug=cnpj_slug,
                               erro=f"Não há reclamações registradas contra o CNPJ {written}."), 404
    name = _names(session, [written]).get(written, written)
    total = YearRecord(0)
    for year in record:
        for key in ("registered", "answered", "resolved", "attended", "not_attended", "archived", "open"):
            setattr(total, key, getattr(total, key) + getattr(year, key))
    return render_template("public/fornecedor.html", cnpj=written, nome=name, anos=record, total=total)


# -- the cadastro (CDC art. 44) -------------------------------------------------------------------------------
@dataclass
class CadastroRow:
    cnpj: str
    name: str
    attended: int = 0
    not_attended: int = 0

    @property
    def total(self) -> int:
        return self.attended + self.not_attended

    @property
    def attended_pct(self) -> str:
        """Share of attended complaints, "75,0" (pt-BR decimal comma)."""
        return f"{100 * self.attended / self.total:.1f}".replace(".", ",") if self.total else "—"


@dataclass
class Cadastro:
    year: int
    rows: list[CadastroRow] = field(default_factory=list)

    @property
    def attended(self) -> int:
        return sum(r.attended for r in self.rows)

    @property
    def not_attended(self) -> int:
        return sum(r.not_attended for r in self.rows)


def _year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, 1, 1, tzinfo=AGENCY_TZ)
    return start.astimezone(dt.UTC), start.replace(year=year + 1).astimezone(dt.UTC)


def cadastro(session: Session, year: int) -> Cadastro:
    """Fundamentada complaints classified in ``year``, per supplier: most not attended first."""
    start, end = _year_bounds(year)
    desfecho = Case.data["desfecho"].as_string()
    counted = func.count(Case.id)
    rows = session.execute(
        select(CASE_PARTIES.c.party_key, desfecho, counted).join(Case, Case.id == CASE_PARTIES.c.case_id)
        .where(CASE_PARTIES.c.role == "fornecedor", Case.process_id == COMPLAINT, Case.status == "encerrado",
               Case.closed_at >= start, Case.closed_at < end, desfecho.in_(FUNDAMENTADAS))
        .group_by(CASE_PARTIES.c.party_key, desfecho)).all()
    per_supplier: dict[str, Counter[str]] = defaultdict(Counter)
    for cnpj, outcome, count in rows:
        per_supplier[cnpj][outcome] += count
    names = _names(session, sorted(per_supplier))
    result = [CadastroRow(cnpj, names.get(cnpj, cnpj), counts[ATENDIDA], counts[NAO_ATENDIDA])
              for cnpj, counts in per_supplier.items()]
    result.sort(key=lambda r: (-r.not_attended, -r.total, r.name.lower(), r.cnpj))
    return Cadastro(year, result)


CSV_HEADER = ["Ano", "CNPJ", "Fornecedor", "Reclamações fundamentadas", "Atendidas", "Não atendidas",
              "Índice de atendimento (%)"]


@bp.route("/cadastro")
def cadastro_page() -> Any:
    this_year = clock.now().astimezone(AGENCY_TZ).year
    written = request.args.get("ano", "").strip()
    if not written:
        year = this_year
    elif not written.isdigit() or not FIRST_YEAR <= int(written) <= this_year:
        return render_template("public/cadastro.html", cadastro=None, ano=written, ano_atual=this_year,
                               erro=f"Ano inválido: informe um ano entre {FIRST_YEAR} e {this_year}, "
                                    "com quatro dígitos."), 400
    else:
        year = int(written)
    data = cadastro(db_session(), year)
    if request.args.get("formato") == "csv":
        rows = ([data.year, row.cnpj, row.name, row.total, row.attended, row.not_attended, row.attended_pct]
                for row in data.rows)
        return csv_response(CSV_HEADER, rows, f"cadastro-reclamacoes-{year}.csv")
    if request.args.get("formato") not in (None, ""):
        abort(404)
    return render_template("public/cadastro.html", cadastro=data, ano=str(year), ano_atual=this_year, erro="",
                           slug=cnpj_slug, csv_url=url_for(".cadastro_page", ano=year, formato="csv"))
