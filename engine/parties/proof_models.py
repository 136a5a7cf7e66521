"""Tables of identity proofing: who proved to be the party they claim, how, when and by whose hand.

- ``identity_proofs``: a consumer's account proved its CPF — in full (gov.br, in person at the Procon, the
  demo; ``case_id`` empty) or for one case (a one-time code sent to the e-mail or phone recorded on it).
- ``party_link_holds``: a case whose consumer's name differs from the name of the account with its CPF; the
  account does not see it until staff resolve the divergence.
- ``representative_proofs``: one per company membership; ``pendente`` until a representative proves to act for
  the CNPJ (gov.br claims, a code to the company's e-mail, Procon staff, an invitation of a proven administrator).
- ``representative_documents``: what a representative sent for the staff's review (contrato social, procuração).
- ``verification_codes``: one-time codes (hashed, expiring, a bounded number of attempts).
- ``outbound_sms``: text messages waiting for an SMS sender (none is configured yet: they wait).
- ``account_events``: the audit trail of portal accounts (codes sent and tried, proofs, decisions).

Nothing here is ever deleted: codes are used or cancelled, holds resolved, proofs refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import Base

#: Ways a consumer proves its CPF (``codigo_*`` prove one case only).
CONSUMER_METHODS = {
    "govbr": "login gov.br",
    "presencial": "confirmação presencial no Procon",
    "codigo_email": "código enviado ao e-mail registrado no caso",
    "codigo_sms": "código enviado ao telefone registrado no caso",
    "demo": "conta de demonstração",
}

#: Ways a representative proves to act for a CNPJ.
REPRESENTATIVE_METHODS = {
    "govbr": "login gov.br com o CNPJ",
    "codigo_email": "código enviado ao e-mail do cadastro do CNPJ",
    "procon": "aprovação pela equipe do Procon",
    "convite": "convite do administrador da empresa",
    "demo": "conta de demonstração",
}


class IdentityProof(Base):
    __tablename__ = "identity_proofs"
    __table_args__ = (Index("ix_identity_proofs_account", "account_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"))
    #: the canonical CPF proven
    party_key: Mapped[str] = mapped_column(String(18))
    method: Mapped[str] = mapped_column(String(20))
    #: set when the proof opens one case only (a code sent to the contact recorded on it)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    #: what was checked, e.g. the kind and number of the document seen, the masked address a code went to
    detail: Mapped[str] = mapped_column(String(300), default="")
    proven_by: Mapped[str] = mapped_column(String(80))
    proven_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class PartyLinkHold(Base):
    __tablename__ = "party_link_holds"
    __table_args__ = (UniqueConstraint("case_id", "account_id"), Index("ix_party_link_holds_open", "resolved_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), index=True)
    #: the consumer's name written on the case and the account's name when the divergence was found
    case_name: Mapped[str] = mapped_column(String(200))
    account_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: ``vincular`` (same person: the account sees the case) or ``nao_vincular`` (another person)
    resolution: Mapped[str | None] = mapped_column(String(20), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(80), default=None)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(String(500), default="")


class RepresentativeProof(Base):
    __tablename__ = "representative_proofs"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("supplier_members.id"), unique=True)
    #: ``pendente``, ``comprovado`` or ``recusado``
    status: Mapped[str] = mapped_column(String(20), default="pendente", index=True)
    #: the company name the person typed at sign-up: shown to staff only, never public
    typed_company_name: Mapped[str] = mapped_column(String(200), default="")
    method: Mapped[str | None] = mapped_column(String(20), default=None)
    detail: Mapped[str] = mapped_column(String(300), default="")
    requested_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decided_by: Mapped[str | None] = mapped_column(String(80), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: the reason of a refusal (shown to the representative) or the reviewer's note
    note: Mapped[str] = mapped_column(String(500), default="")


class RepresentativeDocument(Base):
    __tablename__ = "representative_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    proof_id: Mapped[int] = mapped_column(ForeignKey("representative_proofs.id"), index=True)
    #: ``contrato_social``, ``procuracao`` or ``outro``
    kind: Mapped[str] = mapped_column(String(30))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class VerificationCode(Base):
    __tablename__ = "verification_codes"
    __table_args__ = (Index("ix_verification_codes_account", "account_id", "purpose", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"))
    #: ``caso`` (opens one case) or ``empresa`` (proves a representative)
    purpose: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("supplier_members.id"), default=None)
    #: ``email`` or ``sms``
    channel: Mapped[str] = mapped_column(String(10))
    destination: Mapped[str] = mapped_column(String(254))
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    #: for a company code: the name the CNPJ service gave, public once the code is confirmed
    public_name: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class OutboundSms(Base):
    __tablename__ = "outbound_sms"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_number: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pendente", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AccountEvent(Base):
    __tablename__ = "account_events"
    __table_args__ = (Index("ix_account_events_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"))
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: who acted: ``portal:<id>``, a staff username, ``gov.br``, ``demo``
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(500), default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
