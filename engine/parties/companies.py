"""A representative's proof that it acts for a CNPJ: until then its membership is *pending* and answers for nothing.

Each membership has one ``representative_proofs`` row: ``pendente`` (just signed up, or a membership from before
proofing existed, which gets its row on first use), ``comprovado`` or ``recusado``. Ways to prove:

- a gov.br login whose claims carry the CNPJ (:func:`prove_by_govbr_claims`);
- a one-time code sent to the e-mail the CNPJ service returns for the company (:func:`send_company_code`,
  :func:`verify_company_code`: the web layer calls the service and hands the e-mail and the name over);
- approval by the Procon's staff in the "Empresas" queue (:func:`approve`, :func:`refuse`), who see the
  documents the person sent (:func:`add_document`: contrato social, procuração; PDF, JPG or PNG up to 10 MB);
- an invitation from a proven administrator (:func:`engine.parties.accounts.accept_invite`).

Only the state level reviews (:func:`may_review`): a CNPJ is the whole state's, not one unit's. When the first
representative of a company is proven, the company's public name is set from the CNPJ service, gov.br or the
staff — never from what a pending account typed. Every step goes to the account's audit trail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.actors import Actor
from engine.errors import NotFound, PermissionDenied
from engine.forms.submission import UploadedFile, canonical_cnpj
from engine.parties.identity import ProofError, account_label
from engine.parties.models import OutboundEmail, PortalAccount, SupplierCompany, SupplierMember
from engine.parties.proof_models import REPRESENTATIVE_METHODS, RepresentativeDocument, RepresentativeProof
from engine.parties.proofs import (
    TOO_MANY_CODES,
    WRONG_CODE,
    check_code,
    codes_left,
    issue_code,
    mask_email,
    record_event,
)

DOCUMENT_KINDS = {"contrato_social": "Contrato social ou estatuto", "procuracao": "Procuração",
                  "outro": "Outro documento"}
DOCUMENT_TYPES = {".pdf": (b"%PDF-",), ".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",),
                  ".jpeg": (b"\xff\xd8\xff",)}
DOCUMENT_MAX_MB = 10
DOCUMENTS_PER_REQUEST = 10


def may_review(actor: Actor) -> bool:
    """Who approves representatives: the state level (``admin``, ``gestor_estadual``), never a party."""
    return not actor.is_party and actor.has_role("gestor_estadual")


@dataclass
class Request:
    """A membership waiting for proof (or refused), as the representative and the staff see it."""

    proof: RepresentativeProof
    member: SupplierMember
    company: SupplierCompany
    account: PortalAccount
    documents: list[RepresentativeDocument] = field(default_factory=list)


def _proof_of(session: Session, member: SupplierMember, create: bool) -> RepresentativeProof:
    """The membership's proof row; a membership from before proofing existed has none and is ``pendente``
    (the row is written when ``create``, i.e. in a transaction that acts on it; else a row not saved)."""
    proof = session.scalars(select(RepresentativeProof).where(RepresentativeProof.member_id == member.id)).first()
    if proof is None:
        proof = RepresentativeProof(member_id=member.id, status="pendente", requested_at=member.joined_at)
        if create:
            session.add(proof)
            session.flush()
    return proof


def _documents(session: Session, proof_id: int) -> list[RepresentativeDocument]:
    return list(session.scalars(select(RepresentativeDocument).where(RepresentativeDocument.proof_id == proof_id)
                                .order_by(RepresentativeDocument.id)))


def open_requests(session: Session, account: PortalAccount, create: bool = False) -> list[Request]:
    """The account's memberships that are not proven (pending), not removed (``create``: see :func:`_proof_of`)."""
    rows = session.execute(
        select(SupplierMember, SupplierCompany).join(SupplierCompany, SupplierCompany.id == SupplierMember.company_id)
        .where(SupplierMember.account_id == account.id, SupplierMember.removed_at.is_(None))
        .order_by(SupplierMember.id)).all()
    found = []
    for member, company in rows:
        proof = _proof_of(session, member, create)
        if proof.status == "pendente":
            found.append(Request(proof, member, company, account,
                                 _documents(session, proof.id) if proof.id is not None else []))
    return found


def _request(session: Session, account: PortalAccount, member_id: int) -> Request:
    """The account's own pending membership ``member_id``; NotFound otherwise (someone else's, or proven)."""
    for found in open_requests(session, account, create=True):
        if found.member.id == member_id:
            return found
    raise NotFound("Pedido de representação não encontrado ou já decidido.")


def _prove(session: Session, found: Request, method: str, by: str, detail: str, public_name: str) -> None:
    now = clock.now()
    company = found.company
    first = session.scalar(
        select(RepresentativeProof.id).join(SupplierMember, SupplierMember.id == RepresentativeProof.member_id)
        .where(SupplierMember.company_id == company.id, RepresentativeProof.status == "comprovado").limit(1)) is None
    name = " ".join(public_name.split())[:200]
    if name:
        company.name = name
    elif first:
        company.name = ""  # a name from before proofing may have been typed by anyone: drop it
    found.proof.status, found.proof.method, found.proof.detail = "comprovado", method, detail[:300]
    found.proof.decided_by, found.proof.decided_at = by[:80], now
    record_event(session, found.account.id, by, "representante_comprovado",
                 f"Passou a representar {company.label}: {REPRESENTATIVE_METHODS.get(method, method)}.",
                 empresa=company.id, cnpj=company.cnpj, metodo=method)


# -- the code to the company's e-mail -----------------------------------------------------------------------
def send_company_code(session: Session, account: PortalAccount, member_id: int, company_email: str,
                      public_name: str, base_url: str = "") -> str:
    """Send a code to the e-mail the CNPJ service gave for the company; returns that e-mail masked."""
    found = _request(session, account, member_id)
    if not company_email or "@" not in company_email:
        raise ProofError({"codigo": "O cadastro deste CNPJ não tem e-mail. Comprove pelo gov.br ou envie os "
                                    "documentos da empresa para análise do Procon."})
    if not codes_left(session, account.id):
        raise ProofError({"codigo": TOO_MANY_CODES})
    code = issue_code(session, account_id=account.id, purpose="empresa", channel="email",
                      destination=company_email, member_id=member_id, public_name=public_name)
    company = found.company
    session.add(OutboundEmail(
        to_address=company_email, kind="codigo_empresa",
        subject=f"Código para representar {public_name or company.cnpj} no portal do Procon",
        body=(f"Olá.\n\n{account.name} ({account.email}) pediu para representar a empresa de CNPJ {company.cnpj} "
              f"no portal do Procon. Se essa pessoa representa a empresa, repasse a ela este código: {code}\n\n"
              "Ele vale por 15 minutos. Se vocês não reconhecem o pedido, ignorem esta mensagem: sem o código, "
              "ninguém passa a falar pela empresa.\n"),
        created_at=clock.now(), next_attempt_at=clock.now()))
    shown = mask_email(company_email)
    record_event(session, account.id, account_label(account.id), "codigo_empresa_enviado",
                 f"Código enviado ao e-mail do cadastro do CNPJ ({shown}).", empresa=company.id, destino=shown)
    return shown


def verify_company_code(session: Session, account: PortalAccount, member_id: int, typed: str) -> bool:
    """Whether the code is right (then the representative is proven). A wrong try counts: commit either way."""
    found = _request(session, account, member_id)
    result = check_code(session, account_id=account.id, purpose="empresa", typed=typed, member_id=member_id)
    label = account_label(account.id)
    if not result.ok or result.code is None:
        record_event(session, account.id, label, "codigo_empresa_incorreto", "Código incorreto ou vencido.",
                     empresa=found.company.id)
        return False
    _prove(session, found, "codigo_email", label, f"Código enviado a {mask_email(result.code.destination)}",
           result.code.public_name)
    return True


def wrong_code_errors() -> dict[str, str]:
    return {"codigo": WRONG_CODE}


# -- gov.br -------------------------------------------------------------------------------------------------
def cnpjs_in_claims(claims: dict[str, Any], claim: str = "cnpjs") -> set[str]:
    """The canonical CNPJs an identity provider's claims carry (a list, or text separated by commas)."""
    found: set[str] = set()
    for key in dict.fromkeys((claim, "cnpjs", "cnpj")):
        value = claims.get(key)
        items = value if isinstance(value, list) else str(value or "").split(",")
        for item in items:
            item = item.get("cnpj", "") if isinstance(item, dict) else item
            written = canonical_cnpj(str(item).strip())
            if written:
                found.add(written)
    return found


def prove_by_govbr_claims(session: Session, account: PortalAccount, member_id: int, cnpjs: set[str],
                          public_name: str = "") -> bool:
    """Prove the membership when the gov.br claims carry its company's CNPJ; ``False`` (recorded) when not."""
    found = _request(session, account, member_id)
    label = account_label(account.id)
    if found.company.cnpj not in cnpjs:
        record_event(session, account.id, "gov.br", "govbr_sem_cnpj", "O gov.br não vinculou o CNPJ a quem entrou.",
                     empresa=found.company.id)
        return False
    _prove(session, found, "govbr", "gov.br", f"gov.br informou o CNPJ {found.company.cnpj} para {label}",
           public_name)
    return True


# -- documents and the staff's review -----------------------------------------------------------------------
def _extension(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base else ""


def add_document(session: Session, account: PortalAccount, member_id: int, kind: str,
                 upload: UploadedFile | None) -> RepresentativeDocument:
    """Keep a document for the staff's review, refused by type (PDF, JPG, PNG, checked by content) or size."""
    found = _request(session, account, member_id)
    if kind not in DOCUMENT_KINDS:
        raise ProofError({"tipo": "Escolha o tipo do documento: contrato social, procuração ou outro."})
    if upload is None or not upload.filename:
        raise ProofError({"arquivo": "Escolha o arquivo do documento."})
    extension = _extension(upload.filename)
    if extension not in DOCUMENT_TYPES or not upload.data.startswith(DOCUMENT_TYPES[extension]):
        raise ProofError({"arquivo": "Tipo de arquivo não aceito. Envie: .pdf, .jpg, .jpeg, .png"})
    if len(upload.data) > DOCUMENT_MAX_MB * 1024 * 1024:
        raise ProofError({"arquivo": f"Arquivo maior que {DOCUMENT_MAX_MB} MB."})
    if len(found.documents) >= DOCUMENTS_PER_REQUEST:
        raise ProofError({"arquivo": f"Envie no máximo {DOCUMENTS_PER_REQUEST} documentos por pedido."})
    label = account_label(account.id)
    document = RepresentativeDocument(
        proof_id=found.proof.id, kind=kind, filename=upload.filename[:255], content_type=upload.content_type[:120]
        or "application/octet-stream", size=len(upload.data), sha256=hashlib.sha256(upload.data).hexdigest(),
        data=upload.data, uploaded_by=label, uploaded_at=clock.now())
    session.add(document)
    record_event(session, account.id, label, "documento_enviado", f"{DOCUMENT_KINDS[kind]} enviado para análise.",
                 empresa=found.company.id, arquivo=document.filename, sha256=document.sha256)
    session.flush()
    return document


def review_queue(session: Session, status: str = "pendente", limit: int = 200) -> list[Request]:
    """The requests the staff review (oldest first), or the latest decided (``comprovado`` / ``recusado``)."""
    query = (select(RepresentativeProof, SupplierMember, SupplierCompany, PortalAccount)
             .join(SupplierMember, SupplierMember.id == RepresentativeProof.member_id)
             .join(SupplierCompany, SupplierCompany.id == SupplierMember.company_id)
             .join(PortalAccount, PortalAccount.id == SupplierMember.account_id)
             .where(RepresentativeProof.status == status).limit(limit))
    if status == "pendente":
        query = query.where(SupplierMember.removed_at.is_(None)).order_by(RepresentativeProof.requested_at,
                                                                          RepresentativeProof.id)
    else:
        query = query.order_by(RepresentativeProof.decided_at.desc(), RepresentativeProof.id.desc())
    return [Request(proof, member, company, account, _documents(session, proof.id))
            for proof, member, company, account in session.execute(query)]


def review_item(session: Session, staff: Actor, proof_id: int) -> Request:
    if not may_review(staff):
        raise PermissionDenied("Só a equipe estadual do Procon analisa os pedidos de representação de empresas.")
    proof = session.get(RepresentativeProof, proof_id)
    member = session.get(SupplierMember, proof.member_id) if proof is not None else None
    if proof is None or member is None:
        raise NotFound("Pedido de representação não encontrado.")
    company = session.get(SupplierCompany, member.company_id)
    account = session.get(PortalAccount, member.account_id)
    assert company is not None and account is not None
    return Request(proof, member, company, account, _documents(session, proof.id))


def _pending_item(session: Session, staff: Actor, proof_id: int) -> Request:
    found = review_item(session, staff, proof_id)
    if found.proof.status != "pendente" or found.member.removed_at is not None:
        raise ProofError({"decisao": "Este pedido já foi decidido."})
    return found


def approve(session: Session, staff: Actor, proof_id: int, public_name: str, note: str = "") -> Request:
    """The staff checked the documents: the person represents the company; ``public_name`` is the company's."""
    found = _pending_item(session, staff, proof_id)
    name = " ".join(public_name.split())
    if not name:
        raise ProofError({"nome_publico": "Informe a razão social da empresa como consta no cadastro do CNPJ."})
    if len(name) > 200:
        raise ProofError({"nome_publico": "A razão social pode ter no máximo 200 caracteres."})
    _prove(session, found, "procon", staff.username, " ".join(note.split())[:300] or "Documentos conferidos", name)
    found.proof.note = " ".join(note.split())[:500]
    return found


def refuse(session: Session, staff: Actor, proof_id: int, reason: str) -> Request:
    """The staff refuse the request (the reason is shown to the person); the membership ends."""
    found = _pending_item(session, staff, proof_id)
    reason = " ".join(reason.split())
    if len(reason) < 5:
        raise ProofError({"motivo": "Diga o motivo da recusa: a pessoa vai lê-lo no portal."})
    now = clock.now()
    found.proof.status, found.proof.method, found.proof.note = "recusado", "procon", reason[:500]
    found.proof.decided_by, found.proof.decided_at = staff.username, now
    found.member.removed_at = now
    record_event(session, found.account.id, staff.username, "representante_recusado",
                 f"Pedido para representar o CNPJ {found.company.cnpj} recusado: {reason[:300]}",
                 empresa=found.company.id)
    return found


def refused_requests(session: Session, account: PortalAccount) -> list[Request]:
    """The account's refused requests, latest first (the portal shows the reason)."""
    rows = session.execute(
        select(RepresentativeProof, SupplierMember, SupplierCompany)
        .join(SupplierMember, SupplierMember.id == RepresentativeProof.member_id)
        .join(SupplierCompany, SupplierCompany.id == SupplierMember.company_id)
        .where(SupplierMember.account_id == account.id, RepresentativeProof.status == "recusado")
        .order_by(RepresentativeProof.decided_at.desc())).all()
    return [Request(proof, member, company, account) for proof, member, company in rows]


def prove_for_demo(session: Session, account: PortalAccount, public_name: str) -> None:
    """The demo's representatives are proven by the demo itself (recorded as such)."""
    for found in open_requests(session, account, create=True):
        _prove(session, found, "demo", "demo", "Conta de demonstração", public_name)


# -- what the public sees -----------------------------------------------------------------------------------
def verified_company_ids() -> Any:
    """A select of the ids of companies with at least one proven representative."""
    return (select(SupplierMember.company_id).join(RepresentativeProof,
                                                   RepresentativeProof.member_id == SupplierMember.id)
            .where(RepresentativeProof.status == "comprovado").distinct())


def public_names(session: Session, cnpjs: list[str]) -> dict[str, str]:
    """CNPJ -> public name, for the companies among ``cnpjs`` that are proven and named."""
    if not cnpjs:
        return {}
    rows = session.execute(select(SupplierCompany.cnpj, SupplierCompany.name).where(
        SupplierCompany.cnpj.in_(cnpjs), SupplierCompany.name != "", SupplierCompany.id.in_(verified_company_ids())))
    return {cnpj: name for cnpj, name in rows}

