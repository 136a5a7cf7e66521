"""Everything the system holds about one person, by CPF (LGPD art. 18, II: access to the data).

The cases where the CPF is a party (``case_parties``) or appears in the case data (a denúncia's
author, say) — each with its data, files (names and hashes, not the bytes), official documents and
history —, the portal account with that CPF (its tokens and sign-ins, never the password hash) and the
access log of those cases. :func:`subject_report` builds it as plain data (the JSON export);
:func:`report_rows` flattens it into (section, protocol, field, value) rows (the CSV export).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.forms.submission import canonical_cpf
from engine.lgpd.access_log import entries
from engine.parties.models import ApiToken, CaseParty, PortalAccount
from engine.store.login_sessions import PORTAL, LoginSession
from engine.store.models import Attachment, AuditEvent, Case, Document

#: at most this many cases in one report (a CPF with more is a query for the database administrator)
MAX_CASES = 1000


class InvalidCpf(ValueError):
    """The CPF typed is not a valid CPF; ``str(error)`` says so in Portuguese."""


def _when(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def subject_cases(session: Session, cpf: str) -> list[Case]:
    """The cases where ``cpf`` (canonical) is the consumer, or appears anywhere in the case data."""
    as_party = select(CaseParty.case_id).where(CaseParty.party_key == cpf)
    query = (select(Case).where(or_(Case.id.in_(as_party), cast(Case.data, Text).contains(cpf)))
             .order_by(Case.created_at, Case.id).limit(MAX_CASES))
    return list(session.scalars(query))


def _account(session: Session, cpf: str) -> dict[str, Any] | None:
    account = session.scalars(select(PortalAccount).where(PortalAccount.cpf == cpf)).first()
    if account is None:
        return None
    tokens = session.scalars(select(ApiToken).where(ApiToken.account_id == account.id).order_by(ApiToken.id))
    sign_ins = session.scalars(select(LoginSession).where(LoginSession.kind == PORTAL,
                                                          LoginSession.subject_id == account.id)
                               .order_by(LoginSession.created_at))
    return {
        "id": account.id, "tipo": account.kind, "nome": account.name, "email": account.email, "cpf": account.cpf,
        "telefone": account.phone, "criada_em": _when(account.created_at),
        "email_confirmado_em": _when(account.email_confirmed_at), "ativa": account.active,
        "login_gov_br_vinculado": account.oidc_subject is not None,
        "tokens_api": [{"nome": t.name, "prefixo": t.prefix, "escopos": t.scopes, "criado_em": _when(t.created_at),
                        "expira_em": _when(t.expires_at), "usado_em": _when(t.last_used_at),
                        "revogado_em": _when(t.revoked_at)} for t in tokens],
        "sessoes": [{"inicio": _when(s.created_at), "endereco": s.address, "navegador": s.user_agent,
                     "encerrada_em": _when(s.revoked_at), "motivo": s.revoked_why} for s in sign_ins],
    }


def _case(session: Session, case: Case, cpf: str) -> dict[str, Any]:
    data = dict(case.data or {})
    where = sorted(k for k, v in data.items() if isinstance(v, str) and v == cpf)
    attachments = session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id))
    documents = session.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id))
    events = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)
                             .order_by(AuditEvent.at, AuditEvent.id))
    return {
        "protocolo": case.protocol, "unidade": case.unit, "processo": case.process_id, "titulo": case.title,
        "situacao": case.status, "resultado": case.outcome, "aberto_em": _when(case.created_at),
        "encerrado_em": _when(case.closed_at), "cpf_nos_campos": where, "dados": data,
        "anexos": [{"nome": a.filename, "tipo": a.content_type, "tamanho": a.size, "sha256": a.sha256,
                    "enviado_em": _when(a.created_at)} for a in attachments],
        "documentos": [{"titulo": d.title, "tipo": d.kind, "codigo_verificacao": d.verification_code,
                        "emitido_em": _when(d.created_at)} for d in documents],
        "historico": [{"em": _when(e.at), "acao": e.action, "descricao": e.description,
                       "quem": (e.details or {}).get("actor_name") or e.actor} for e in events],
    }


def subject_report(session: Session, cpf_typed: str) -> dict[str, Any]:
    """Everything held about the person with this CPF (raises :class:`InvalidCpf`)."""
    cpf = canonical_cpf(cpf_typed or "")
    if cpf is None:
        raise InvalidCpf("CPF inválido: confira os números (por exemplo 529.982.247-25).")
    cases = subject_cases(session, cpf)
    return {
        "titular": {"cpf": cpf},
        "gerado_em": clock.now().isoformat(),
        "conta_portal": _account(session, cpf),
        "casos": [_case(session, case, cpf) for case in cases],
        "acessos": [row.as_dict() for row in entries(session, case_ids=[c.id for c in cases], limit=100_000)],
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def report_rows(report: dict[str, Any]) -> Iterator[list[str]]:
    """The report as rows of (section, protocol, field, value): one value per row."""
    yield ["titular", "", "cpf", report["titular"]["cpf"]]
    yield ["titular", "", "gerado_em", report["gerado_em"]]
    account = report["conta_portal"] or {}
    for key, value in account.items():
        if isinstance(value, list):
            for number, item in enumerate(value, 1):
                for inner, text in item.items():
                    yield ["conta_portal", "", f"{key}[{number}].{inner}", _text(text)]
        else:
            yield ["conta_portal", "", key, _text(value)]
    for case in report["casos"]:
        protocol = case["protocolo"]
        for key, value in case.items():
            if key == "dados":
                for name, item in value.items():
                    yield ["dados_do_caso", protocol, name, _text(item)]
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for number, item in enumerate(value, 1):
                    for inner, text in item.items():
                        yield [key, protocol, f"{number}.{inner}", _text(text)]
            else:
                yield ["caso", protocol, key, _text(value)]
    for number, row in enumerate(report["acessos"], 1):
        for key, value in row.items():
            if key != "protocolo":
                yield ["acessos", row["protocolo"], f"{number}.{key}", _text(value)]
