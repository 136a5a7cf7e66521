"""A consumer's proof of identity: until it proves its CPF, an account sees only the cases it filed itself.

Ways to prove (each recorded in ``identity_proofs`` and in the account's audit trail, same transaction):

- in full — the gov.br login (:func:`prove_in_full` from :func:`engine.parties.accounts.account_for_oidc`), an
  attendant who saw the person's document at the Procon (:func:`confirm_in_person`), the demo;
- for one case — a one-time code sent to the e-mail or phone **recorded on that case** (:func:`request_case_code`,
  :func:`verify_case_code`): whoever reads that mailbox or phone is the person the Procon talked to.

A case whose consumer's name differs from the name of the account with its CPF is *held*
(``party_link_holds``): the account does not see it, even proven, until staff say it is the same person
(:func:`resolve_hold`). Holds are written when such a case is registered (:func:`hold_divergences`, called in
the runtime's transaction) and when an account is proven (older cases). Names match when they are equal once
accents, case, punctuation and the particles (de, da, do, dos, das, e) are ignored, or when their first and
last names are the same ("Maria Santos" and "Maria Aparecida dos Santos").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from engine import clock
from engine.actors import Actor
from engine.errors import EngineError, NotFound, PermissionDenied
from engine.forms.submission import canonical_cpf
from engine.parties.models import CaseParty, OutboundEmail, PortalAccount
from engine.parties.proof_models import CONSUMER_METHODS, IdentityProof, PartyLinkHold
from engine.parties.proofs import (
    TOO_MANY_CODES,
    WRONG_CODE,
    check_code,
    codes_left,
    issue_code,
    mask_email,
    mask_phone,
    queue_sms,
    record_event,
)
from engine.store.models import Case

HOLDS = PartyLinkHold.__table__
ACCOUNTS = PortalAccount.__table__
PARTICLES = frozenset({"de", "da", "do", "dos", "das", "e", "d"})


class ProofError(EngineError):
    """A proof refused: ``errors`` maps the field that caused it to its message in Portuguese."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _tokens(name: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().casefold()
    words = "".join(ch if ch.isalnum() else " " for ch in plain).split()
    return [w for w in words if w not in PARTICLES]


def names_match(first: str, second: str) -> bool:
    a, b = _tokens(first), _tokens(second)
    if not a or not b:
        return False
    return a == b or (a[0] == b[0] and a[-1] == b[-1])


def account_label(account_id: int) -> str:
    return f"portal:{account_id}"


# -- proofs in full -----------------------------------------------------------------------------------------
def proven_in_full(session: Session, account: PortalAccount) -> bool:
    if not account.cpf:
        return False
    return session.scalar(select(IdentityProof.id).where(
        IdentityProof.account_id == account.id, IdentityProof.case_id.is_(None),
        IdentityProof.party_key == account.cpf).limit(1)) is not None


def _hold_older_cases(session: Session, account: PortalAccount) -> int:
    """Hold the cases under the account's CPF whose consumer has another name (found when it is proven)."""
    rows = session.execute(
        select(Case.id, Case.data["consumidor_nome"].as_string()).join(CaseParty, CaseParty.case_id == Case.id)
        .where(CaseParty.role == "consumidor", CaseParty.party_key == account.cpf,
               Case.created_by != account_label(account.id))).all()
    held = set(session.scalars(select(PartyLinkHold.case_id).where(PartyLinkHold.account_id == account.id)))
    written = 0
    for case_id, case_name in rows:
        if case_id not in held and not names_match(case_name or "", account.name):
            session.add(PartyLinkHold(case_id=case_id, account_id=account.id, case_name=(case_name or "")[:200],
                                      account_name=account.name[:200], created_at=clock.now()))
            written += 1
    return written


def prove_in_full(session: Session, account: PortalAccount, method: str, by: str, detail: str = "") -> IdentityProof:
    """Record that the account is the holder of its CPF (``method``: govbr, presencial, demo)."""
    if account.kind != "consumidor" or not account.cpf:
        raise ProofError({"conta": "Só contas de consumidor com CPF comprovam identidade desta forma."})
    proof = IdentityProof(account_id=account.id, party_key=account.cpf, method=method, detail=detail[:300],
                          proven_by=by[:80], proven_at=clock.now())
    session.add(proof)
    held = _hold_older_cases(session, account)
    record_event(session, account.id, by, "identidade_comprovada",
                 f"Identidade comprovada: {CONSUMER_METHODS.get(method, method)}.", method=method, detail=detail,
                 casos_retidos=held)
    session.flush()
    return proof


def confirm_in_person(session: Session, account_id: int, staff: Actor, document: str) -> IdentityProof:
    """An attendant saw the person's photo ID at the Procon and confirms the account is theirs."""
    if staff.is_party or not staff.has_role("atendente"):
        raise PermissionDenied("Só atendentes confirmam a identidade de um consumidor presencialmente.")
    account = session.get(PortalAccount, account_id)
    if account is None or account.kind != "consumidor":
        raise NotFound("Conta de consumidor não encontrada.")
    document = " ".join(document.split())
    if len(document) < 4:
        raise ProofError({"documento": "Informe o documento com foto conferido (tipo e número, como RG 12.345.678-9)."})
    if proven_in_full(session, account):
        raise ProofError({"documento": "A identidade desta conta já está comprovada."})
    return prove_in_full(session, account, "presencial", staff.username, f"Documento conferido: {document}")


# -- one case at a time -------------------------------------------------------------------------------------
CASE_CHANNELS = {"email": "consumidor_email", "sms": "consumidor_telefone"}


def _case_by_protocol(session: Session, protocol: str) -> Case | None:
    text = " ".join((protocol or "").split()).upper()
    return session.scalars(select(Case).where(Case.protocol == text)).first() if text else None


def _is_consumer_of(session: Session, case_id: int, cpf: str) -> bool:
    return session.scalar(select(CaseParty.id).where(CaseParty.case_id == case_id, CaseParty.role == "consumidor",
                                                     CaseParty.party_key == cpf)) is not None


def request_case_code(session: Session, account: PortalAccount, protocol: str, channel: str,
                      base_url: str = "") -> None:
    """Send a code to the contact recorded on the case ``protocol``, when its consumer has the account's CPF.

    The answer is the same whatever the protocol (a stranger learns nothing); what happened is in the trail.
    """
    if channel not in CASE_CHANNELS:
        raise ProofError({"canal": "Escolha por onde receber o código: e-mail ou SMS."})
    if not (protocol or "").strip():
        raise ProofError({"protocolo": "Informe o número do protocolo, como está no comprovante do atendimento."})
    if not codes_left(session, account.id):
        raise ProofError({"protocolo": TOO_MANY_CODES})
    label = account_label(account.id)
    case = _case_by_protocol(session, protocol)
    contact = str((case.data or {}).get(CASE_CHANNELS[channel]) or "").strip() if case is not None else ""
    if case is None or not account.cpf or not _is_consumer_of(session, case.id, account.cpf) or not contact:
        record_event(session, account.id, label, "codigo_caso_recusado", "Código pedido para um protocolo que não "
                     "é desta conta ou sem contato registrado.", protocolo=protocol.strip()[:40], canal=channel)
        issue_code(session, account_id=account.id, purpose="caso_inexistente", channel=channel, destination="")
        return
    code = issue_code(session, account_id=account.id, purpose="caso", channel=channel, destination=contact,
                      case_id=case.id)
    text = (f"Código para ver o atendimento {case.protocol} no portal do Procon: {code}. Vale por 15 minutos. "
            "Se não foi você quem pediu, ignore esta mensagem: sem o código ninguém vê o seu caso.")
    if channel == "email":
        session.add(OutboundEmail(to_address=contact, kind="codigo_caso",
                                  subject=f"Código para ver o atendimento {case.protocol}",
                                  body=f"Olá.\n\n{text}\n", created_at=clock.now(), next_attempt_at=clock.now()))
        shown = mask_email(contact)
    else:
        queue_sms(session, contact, text, "codigo_caso")
        shown = mask_phone(contact)
    record_event(session, account.id, label, "codigo_caso_enviado", f"Código enviado para {shown}.",
                 case_id=case.id, canal=channel, destino=shown)


def verify_case_code(session: Session, account: PortalAccount, protocol: str, typed: str) -> int | None:
    """The case id the code opens (a proof for that case is recorded), or ``None`` (the try still counts)."""
    case = _case_by_protocol(session, protocol)
    label = account_label(account.id)
    if case is None:
        check_code(session, account_id=account.id, purpose="caso_inexistente", typed=typed)
        record_event(session, account.id, label, "codigo_caso_incorreto", "Código incorreto.",
                     protocolo=(protocol or "").strip()[:40])
        return None
    result = check_code(session, account_id=account.id, purpose="caso", typed=typed, case_id=case.id)
    if not result.ok or result.code is None or not account.cpf or not _is_consumer_of(session, case.id, account.cpf):
        record_event(session, account.id, label, "codigo_caso_incorreto", "Código incorreto ou vencido.",
                     case_id=case.id)
        return None
    method = "codigo_email" if result.code.channel == "email" else "codigo_sms"
    shown = mask_email(result.code.destination) if method == "codigo_email" else mask_phone(result.code.destination)
    session.add(IdentityProof(account_id=account.id, party_key=account.cpf, method=method, case_id=case.id,
                              detail=f"Código enviado para {shown}", proven_by=label, proven_at=clock.now()))
    record_event(session, account.id, label, "caso_vinculado", f"Caso {case.protocol} vinculado por código.",
                 case_id=case.id, method=method)
    return case.id


def wrong_code_errors() -> dict[str, str]:
    return {"codigo": WRONG_CODE}


# -- name divergences ---------------------------------------------------------------------------------------
def divergent_account_name(session: Session, cpf: str, name: str) -> str | None:
    """The name of the portal account with this CPF when it differs from ``name`` (the staff form warns)."""
    written = canonical_cpf(cpf or "")
    if written is None:
        return None
    account_name = session.scalar(select(PortalAccount.name).where(PortalAccount.cpf == written))
    if account_name is None or names_match(account_name, name or ""):
        return None
    return account_name


def hold_divergences(conn: Connection, case_id: int, cpfs: set[str], case_name: str) -> None:
    """Hold the case from the accounts with these CPFs whose name differs (in the command's transaction)."""
    if not cpfs:
        return
    rows = conn.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.name).where(ACCOUNTS.c.cpf.in_(sorted(cpfs)))).all()
    for account_id, account_name in rows:
        if names_match(account_name, case_name):
            continue
        exists = conn.execute(select(HOLDS.c.id).where(HOLDS.c.case_id == case_id,
                                                       HOLDS.c.account_id == account_id)).first()
        if exists is None:
            conn.execute(insert(HOLDS).values(case_id=case_id, account_id=account_id, case_name=case_name[:200],
                                              account_name=account_name[:200], created_at=clock.now(), note=""))


@dataclass(frozen=True)
class OpenHold:
    hold: PartyLinkHold
    protocol: str
    unit: str
    account_email: str
    cpf: str


def open_holds(session: Session, unit: str | None = None, limit: int = 200) -> list[OpenHold]:
    """Unresolved divergences, oldest first (of one unit's cases when ``unit`` is given)."""
    query = (select(PartyLinkHold, Case.protocol, Case.unit, PortalAccount.email, PortalAccount.cpf)
             .join(Case, Case.id == PartyLinkHold.case_id)
             .join(PortalAccount, PortalAccount.id == PartyLinkHold.account_id)
             .where(PartyLinkHold.resolved_at.is_(None)).order_by(PartyLinkHold.created_at, PartyLinkHold.id)
             .limit(limit))
    if unit is not None:
        query = query.where(Case.unit == unit)
    return [OpenHold(hold, protocol, case_unit, email, cpf or "")
            for hold, protocol, case_unit, email, cpf in session.execute(query)]


RESOLUTIONS = {"vincular": "É a mesma pessoa: o caso aparece para a conta",
               "nao_vincular": "São pessoas diferentes: o caso não aparece para a conta"}


def resolve_hold(session: Session, hold_id: int, staff: Actor, resolution: str, note: str = "",
                 unit: str | None = None) -> PartyLinkHold:
    """Staff say whether the account is the case's consumer; ``unit`` limits them to their unit's cases."""
    if staff.is_party or not staff.has_role("atendente"):
        raise PermissionDenied("Só atendentes resolvem divergências de nome.")
    hold = session.get(PartyLinkHold, hold_id)
    case = session.get(Case, hold.case_id) if hold is not None else None
    if hold is None or case is None or (unit is not None and case.unit != unit):
        raise NotFound("Divergência não encontrada.")
    if hold.resolved_at is not None:
        raise ProofError({"resolucao": "Esta divergência já foi resolvida."})
    if resolution not in RESOLUTIONS:
        raise ProofError({"resolucao": "Escolha se é a mesma pessoa ou não."})
    hold.resolution, hold.resolved_by, hold.resolved_at = resolution, staff.username, clock.now()
    hold.note = " ".join(note.split())[:500]
    record_event(session, hold.account_id, staff.username, "divergencia_resolvida",
                 f"Divergência do caso {case.protocol}: {RESOLUTIONS[resolution].lower()}.", case_id=case.id,
                 resolucao=resolution, observacao=hold.note)
    return hold
