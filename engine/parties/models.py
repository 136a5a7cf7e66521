"""Tables for the people outside the agency: consumers' and suppliers' portal accounts, supplier
companies and their representatives, the parties of each case, API tokens and the account e-mail outbox.

``case_parties`` is a projection like ``open_tasks``: :mod:`engine.runtime` rewrites it from the case
data (``consumidor_cpf``, ``fornecedor_cnpj``) in the same transaction as the case, so "which cases
may this person see" is one indexed query and never a deserialization.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import Base


class PortalAccount(Base):
    """A consumer or a supplier's representative who signs in to the portal or the API."""

    __tablename__ = "portal_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``consumidor`` or ``fornecedor``
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: consumers only, canonical ``000.000.000-00``
    cpf: Mapped[str | None] = mapped_column(String(14), unique=True, default=None)
    phone: Mapped[str] = mapped_column(String(30), default="")
    password_hash: Mapped[str | None] = mapped_column(String(300), default=None)
    #: ``iss|sub`` of an OpenID Connect (gov.br-style) login bound to this account
    oidc_subject: Mapped[str | None] = mapped_column(String(300), unique=True, default=None)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: SHA-256 of the pending e-mail confirmation token (cleared once confirmed)
    email_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class SupplierCompany(Base):
    """One company account per CNPJ; its proven administrators invite the representatives."""

    __tablename__ = "supplier_companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: canonical ``00.000.000/0000-00`` (alphanumeric CNPJs included)
    cnpj: Mapped[str] = mapped_column(String(18), unique=True)
    #: the public name: from the CNPJ service, gov.br or the Procon's staff once a representative is proven;
    #: empty before (what a pending representative typed is kept apart, in ``representative_proofs``)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    @property
    def label(self) -> str:
        """How pages name the company: its public name, else its CNPJ."""
        return self.name or f"CNPJ {self.cnpj}"


class SupplierMember(Base):
    """A representative of a company; ``is_admin`` may invite and remove representatives."""

    __tablename__ = "supplier_members"
    __table_args__ = (UniqueConstraint("company_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("supplier_companies.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), index=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("portal_accounts.id"), default=None)
    joined_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: set when an administrator removes the representative (rows are never deleted)
    removed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class SupplierInvite(Base):
    """An invitation sent by a company administrator to a representative's e-mail."""

    __tablename__ = "supplier_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("supplier_companies.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column()
    accepted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class CaseParty(Base):
    """Projection: who the consumer and the supplier of a case are (by CPF / CNPJ)."""

    __tablename__ = "case_parties"
    __table_args__ = (
        UniqueConstraint("case_id", "role", "party_key"),
        Index("ix_case_parties_key", "role", "party_key", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: ``consumidor`` or ``fornecedor``
    role: Mapped[str] = mapped_column(String(20))
    #: the canonical CPF or CNPJ
    party_key: Mapped[str] = mapped_column(String(18))


class ApiToken(Base):
    """A personal API token: stored as a SHA-256 hash, scoped, revocable, never shown twice."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters, shown so a person can tell their tokens apart
    prefix: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    #: space-separated, e.g. ``casos:ler tarefas:escrever``
    scopes: Mapped[str] = mapped_column(String(300))
    #: exactly one of the two owners is set
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("portal_accounts.id"), default=None, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class OutboundEmail(Base):
    """Account e-mails (confirmation, invitation) waiting for the worker to send them."""

    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(10000))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pendente", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
