"""Portal accounts: consumers sign up with CPF and e-mail, suppliers get one company account per CNPJ
whose administrator invites representatives, and everyone may hold scoped, revocable API tokens.

Each function takes a SQLAlchemy session and leaves committing to the caller, so a sign-up and its
confirmation e-mail (queued in ``outbound_emails``, sent by the worker) are one transaction.
Secrets (confirmation and invitation links, API tokens) are random, shown once and stored as SHA-256.

A sign-up never says whether a CPF or an e-mail already has an account: the page is the same, nothing is
created, and the existing account's address is told that someone tried (or, for an account never confirmed
with that same e-mail, sent a new confirmation link). Knowing a CPF or a CNPJ opens nothing by itself: a
consumer reaches the cases filed at the counter only after proof (:mod:`engine.parties.identity`), and a
company's representative acts for its CNPJ only after proof (:mod:`engine.parties.companies`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.actors import Actor
from engine.errors import EngineError, NotFound, PermissionDenied
from engine.forms.submission import canonical_cnpj, canonical_cpf
from engine.parties.identity import account_label, prove_in_full, proven_in_full
from engine.parties.models import (
    ApiToken,
    OutboundEmail,
    PortalAccount,
    SupplierCompany,
    SupplierInvite,
    SupplierMember,
)
from engine.parties.party_view import AGENCY_TZ
from engine.parties.proof_models import RepresentativeProof
from engine.parties.proofs import record_event
from engine.store.login_sessions import PORTAL, revoke_all

_EMAIL_RE = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
MIN_PASSWORD = 8
INVITE_DAYS = 7

#: What a token may do. Staff tokens act with the person's roles; party tokens only on their cases.
SCOPES: dict[str, str] = {
    "casos:ler": "Ver casos, prazos, histórico e documentos",
    "tarefas:escrever": "Responder e concluir tarefas",
    "reclamacoes:criar": "Registrar reclamações",
}


class AccountError(EngineError):
    """Bad sign-up or invitation input: ``errors`` maps each field to its message in Portuguese."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _clean_email(value: str) -> str:
    return value.strip().lower()


def _check_person(errors: dict[str, str], name: str, email: str, password: str) -> None:
    if not name.strip():
        errors["nome"] = "Informe seu nome completo."
    elif len(name) > 200:
        errors["nome"] = "O nome pode ter no máximo 200 caracteres."
    if not _EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "Informe um e-mail válido, como nome@exemplo.com.br."
    if len(password) < MIN_PASSWORD:
        errors["senha"] = f"A senha precisa ter pelo menos {MIN_PASSWORD} caracteres."


def _email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(PortalAccount.id).where(PortalAccount.email == email)) is not None


def _queue_confirmation(session: Session, account: PortalAccount, base_url: str) -> str:
    token = secrets.token_urlsafe(32)
    account.email_token_hash = hash_secret(token)
    link = f"{base_url.rstrip('/')}/portal/confirmar/{token}"
    session.add(OutboundEmail(
        to_address=account.email, kind="confirmacao", subject="Confirme seu e-mail no Procon",
        body=(f"Olá, {account.name}.\n\nPara ativar sua conta no portal do Procon, abra o link abaixo:\n\n{link}\n\n"
              "Se você não pediu esta conta, ignore esta mensagem."),
        created_at=clock.now(), next_attempt_at=clock.now()))
    return token


@dataclass(frozen=True)
class SignUp:
    #: the new account; ``None`` when the CPF, CNPJ or e-mail belonged to an account (its owner was told)
    account: PortalAccount | None
    #: the confirmation token (already e-mailed); returned so tests and the demo can take the next step
    token: str | None


def _tell_owner(session: Session, account: PortalAccount, what: str, base_url: str) -> None:
    """The owner of ``account`` hears that someone tried to sign up with its ``what`` (CPF, e-mail, ...)."""
    if account.email_confirmed_at is None and what == "e-mail":
        _queue_confirmation(session, account, base_url)  # they may simply have lost the first link
        return
    when = clock.now().astimezone(AGENCY_TZ).strftime("%d/%m/%Y às %H:%M")
    login = f"{base_url.rstrip('/')}/portal/entrar"
    session.add(OutboundEmail(
        to_address=account.email, kind="tentativa_cadastro", subject="Tentativa de cadastro no portal do Procon",
        body=(f"Olá, {account.name}.\n\nEm {when}, alguém tentou criar uma conta no portal do Procon com o seu "
              f"{what}. Você já tem uma conta: entre em {login} com seu e-mail ou CPF e sua senha.\n\n"
              "Se não foi você, ignore esta mensagem: nada mudou na sua conta e nenhuma conta nova foi criada."),
        created_at=clock.now(), next_attempt_at=clock.now()))
    record_event(session, account.id, "portal", "tentativa_cadastro", f"Tentativa de cadastro com o {what} da conta.")


def register_consumer(session: Session, *, name: str, cpf: str, email: str, password: str, phone: str = "",
                      base_url: str = "") -> SignUp:
    """Create a consumer's account (inactive until the e-mail is confirmed) and queue the confirmation.

    Only the form of the input is refused (``AccountError``). A CPF or an e-mail that already has an account
    looks like a sign-up that worked: nothing is created and the existing account's owner is told.
    """
    errors: dict[str, str] = {}
    email = _clean_email(email)
    _check_person(errors, name, email, password)
    written_cpf = canonical_cpf(cpf or "")
    if written_cpf is None:
        errors["cpf"] = "CPF inválido: confira os 11 dígitos."
    if errors:
        raise AccountError(errors)
    password_hash = generate_password_hash(password)  # the same work whether or not the account exists
    by_email = session.scalars(select(PortalAccount).where(PortalAccount.email == email)).first()
    by_cpf = session.scalars(select(PortalAccount).where(PortalAccount.cpf == written_cpf)).first()
    if by_email is not None or by_cpf is not None:
        if by_email is not None:
            _tell_owner(session, by_email, "e-mail", base_url)
        if by_cpf is not None and by_cpf is not by_email:
            _tell_owner(session, by_cpf, "CPF", base_url)
        return SignUp(None, None)
    account = PortalAccount(kind="consumidor", name=name.strip(), email=email, cpf=written_cpf, phone=phone.strip(),
                            password_hash=password_hash, created_at=clock.now())
    session.add(account)
    session.flush()
    return SignUp(account, _queue_confirmation(session, account, base_url))


def register_supplier(session: Session, *, cnpj: str, company_name: str, name: str, email: str, password: str,
                      base_url: str = "") -> SignUp:
    """Create a representative's account that asks to act for a CNPJ: its membership starts *pending*.

    Whether the CNPJ already has a company account is not said (each new representative is pending until
    proven). What the person typed as the company's name is kept for the staff's review only: the company's
    public name comes from the CNPJ service or the Procon's staff when someone is proven.
    """
    errors: dict[str, str] = {}
    email = _clean_email(email)
    _check_person(errors, name, email, password)
    written_cnpj = canonical_cnpj(cnpj or "")
    if written_cnpj is None:
        errors["cnpj"] = "CNPJ inválido: confira os 14 caracteres."
    if not company_name.strip():
        errors["razao_social"] = "Informe a razão social da empresa."
    if errors:
        raise AccountError(errors)
    password_hash = generate_password_hash(password)
    existing = session.scalars(select(PortalAccount).where(PortalAccount.email == email)).first()
    if existing is not None:
        _tell_owner(session, existing, "e-mail", base_url)
        return SignUp(None, None)
    now = clock.now()
    company = session.scalars(select(SupplierCompany).where(SupplierCompany.cnpj == written_cnpj)).first()
    if company is None:
        company = SupplierCompany(cnpj=written_cnpj, name="", created_at=now)
        session.add(company)
    account = PortalAccount(kind="fornecedor", name=name.strip(), email=email, password_hash=password_hash,
                            created_at=now)
    session.add(account)
    session.flush()
    member = SupplierMember(company_id=company.id, account_id=account.id, is_admin=True, joined_at=now)
    session.add(member)
    session.flush()
    session.add(RepresentativeProof(member_id=member.id, status="pendente", requested_at=now,
                                    typed_company_name=company_name.strip()[:200]))
    return SignUp(account, _queue_confirmation(session, account, base_url))


def confirm_email(session: Session, token: str) -> PortalAccount:
    account = session.scalars(select(PortalAccount).where(PortalAccount.email_token_hash == hash_secret(token))).first()
    if account is None:
        raise NotFound("Link de confirmação inválido ou já usado. Entre na sua conta ou peça um novo link.")
    account.email_confirmed_at = clock.now()
    account.email_token_hash = None
    return account


def authenticate_account(session: Session, login: str, password: str) -> PortalAccount | None:
    """The account for an e-mail (or a consumer's CPF) and password; ``None`` when they do not match."""
    login = login.strip()
    cpf = canonical_cpf(login)
    where = PortalAccount.cpf == cpf if cpf else PortalAccount.email == login.lower()
    account = session.scalars(select(PortalAccount).where(where)).first()
    if account is None or not account.active or not account.password_hash:
        return None
    if not check_password_hash(account.password_hash, password):
        return None
    return account


def active_memberships(session: Session, account_id: int) -> list[tuple[SupplierMember, SupplierCompany]]:
    """The companies the account acts for: memberships not removed and proven (pending ones do not count)."""
    rows = session.execute(
        select(SupplierMember, SupplierCompany).join(SupplierCompany, SupplierCompany.id == SupplierMember.company_id)
        .join(RepresentativeProof, RepresentativeProof.member_id == SupplierMember.id)
        .where(SupplierMember.account_id == account_id, SupplierMember.removed_at.is_(None),
               RepresentativeProof.status == "comprovado")
        .order_by(SupplierCompany.name, SupplierCompany.cnpj)).all()
    return [(member, company) for member, company in rows]


def actor_for_account(session: Session, account: PortalAccount) -> Actor:
    """The engine actor for a portal account: its party role and the CPF / CNPJs it answers for.

    An account whose e-mail is not confirmed answers for nobody yet: it sees no case. A consumer whose CPF is
    not proven holds it as ``limited`` (the cases it filed itself or proved one by one); a representative
    answers only for the companies it is proven to act for.
    """
    parties: set[tuple[str, str]] = set()
    limited: set[tuple[str, str]] = set()
    if account.email_confirmed_at is not None and account.active:
        if account.kind == "consumidor" and account.cpf:
            (parties if proven_in_full(session, account) else limited).add(("consumidor", account.cpf))
        elif account.kind == "fornecedor":
            parties.update(("fornecedor", company.cnpj) for _m, company in active_memberships(session, account.id))
    return Actor(account_label(account.id), account.name, frozenset({account.kind}), "", frozenset(parties),
                 limited=frozenset(limited))


def _admin_membership(session: Session, account: PortalAccount, company_id: int) -> SupplierMember:
    member = next((m for m, _c in active_memberships(session, account.id) if m.company_id == company_id), None)
    if member is None or not member.is_admin:
        raise PermissionDenied("Só o administrador da conta da empresa pode convidar ou remover representantes.")
    return member


@dataclass(frozen=True)
class Invitation:
    invite: SupplierInvite
    token: str


def invite_representative(session: Session, admin: PortalAccount, company_id: int, email: str,
                          base_url: str = "") -> Invitation:
    """An administrator invites a representative by e-mail (the link is valid for 7 days)."""
    _admin_membership(session, admin, company_id)
    email = _clean_email(email)
    if not _EMAIL_RE.match(email):
        raise AccountError({"email": "Informe um e-mail válido para o convite."})
    company = session.get(SupplierCompany, company_id)
    assert company is not None
    token = secrets.token_urlsafe(32)
    now = clock.now()
    invite = SupplierInvite(company_id=company_id, email=email, token_hash=hash_secret(token), invited_by=admin.id,
                            created_at=now, expires_at=now + dt.timedelta(days=INVITE_DAYS))
    session.add(invite)
    link = f"{base_url.rstrip('/')}/portal/fornecedor/convite/{token}"
    session.add(OutboundEmail(
        to_address=email, kind="convite", subject=f"Convite para representar {company.label} no Procon",
        body=(f"{admin.name} convidou você para representar {company.label} (CNPJ {company.cnpj}) no portal do "
              f"Procon.\n\nPara aceitar, abra o link abaixo em até {INVITE_DAYS} dias:\n\n{link}\n"),
        created_at=now, next_attempt_at=now))
    session.flush()
    return Invitation(invite, token)


def pending_invite(session: Session, token: str) -> SupplierInvite:
    invite = session.scalars(select(SupplierInvite).where(SupplierInvite.token_hash == hash_secret(token))).first()
    if invite is None or invite.accepted_at is not None:
        raise NotFound("Convite inválido ou já usado. Peça um novo convite ao administrador da empresa.")
    if invite.expires_at <= clock.now():
        raise NotFound("Este convite expirou. Peça um novo convite ao administrador da empresa.")
    return invite


def accept_invite(session: Session, token: str, *, name: str, password: str) -> PortalAccount:
    """The invited person creates their account (or joins with the one they have) and becomes a representative.

    The invitation went to their e-mail, so following its link confirms that e-mail.
    """
    invite = pending_invite(session, token)
    now = clock.now()
    account = session.scalars(select(PortalAccount).where(PortalAccount.email == invite.email)).first()
    if account is None:
        errors: dict[str, str] = {}
        _check_person(errors, name, invite.email, password)
        if errors:
            raise AccountError(errors)
        account = PortalAccount(kind="fornecedor", name=name.strip(), email=invite.email,
                                password_hash=generate_password_hash(password), email_confirmed_at=now,
                                created_at=now)
        session.add(account)
        session.flush()
    elif account.kind != "fornecedor":
        raise AccountError({"email": "Este e-mail pertence a uma conta de consumidor; use outro e-mail."})
    inviter = next((m for m, _c in active_memberships(session, invite.invited_by)
                    if m.company_id == invite.company_id and m.is_admin), None)
    if inviter is None:
        raise NotFound("Este convite não vale mais: quem o enviou não administra mais a conta da empresa.")
    member = session.scalars(select(SupplierMember).where(SupplierMember.company_id == invite.company_id,
                                                          SupplierMember.account_id == account.id)).first()
    if member is None:
        member = SupplierMember(company_id=invite.company_id, account_id=account.id, is_admin=False,
                                invited_by=invite.invited_by, joined_at=now)
        session.add(member)
        session.flush()
    else:
        member.removed_at = None
    proof = session.scalars(select(RepresentativeProof).where(RepresentativeProof.member_id == member.id)).first()
    if proof is None:
        proof = RepresentativeProof(member_id=member.id, requested_at=now)
        session.add(proof)
    proof.status, proof.method, proof.decided_at = "comprovado", "convite", now
    proof.decided_by, proof.detail = account_label(invite.invited_by), f"Convite aceito por {invite.email}"
    record_event(session, account.id, account_label(invite.invited_by), "representante_convidado",
                 "Passou a representar a empresa por convite do administrador.", empresa=invite.company_id)
    invite.accepted_at = now
    session.flush()
    return account


def remove_representative(session: Session, admin: PortalAccount, company_id: int, account_id: int) -> None:
    _admin_membership(session, admin, company_id)
    if account_id == admin.id:
        raise PermissionDenied("O administrador não pode remover a si mesmo.")
    member = session.scalars(select(SupplierMember).where(
        SupplierMember.company_id == company_id, SupplierMember.account_id == account_id,
        SupplierMember.removed_at.is_(None))).first()
    if member is None:
        raise NotFound("Representante não encontrado nesta empresa.")
    member.removed_at = clock.now()


# -- API tokens -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    #: the secret, shown once
    secret: str


def issue_token(session: Session, *, name: str, scopes: list[str], user_id: int | None = None,
                account_id: int | None = None, days: int | None = 365) -> IssuedToken:
    if (user_id is None) == (account_id is None):
        raise ValueError("a token belongs to exactly one user or one portal account")
    errors: dict[str, str] = {}
    if not name.strip():
        errors["nome"] = "Dê um nome ao token (por exemplo, o aplicativo que vai usá-lo)."
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        errors["escopos"] = ("Escolha pelo menos um escopo válido: " + ", ".join(SCOPES)) if not unknown else (
            "Escopos desconhecidos: " + ", ".join(unknown))
    if errors:
        raise AccountError(errors)
    secret = "pf_" + secrets.token_urlsafe(32)
    now = clock.now()
    token = ApiToken(token_hash=hash_secret(secret), prefix=secret[:10], name=name.strip()[:100],
                     scopes=" ".join(sorted(set(scopes))), user_id=user_id, account_id=account_id, created_at=now,
                     expires_at=now + dt.timedelta(days=days) if days else None)
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def resolve_token(session: Session, secret: str) -> ApiToken | None:
    """The live token for a secret (not revoked, not expired), its last use recorded; else ``None``."""
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret))).first()
    now = clock.now()
    if token is None or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    token.last_used_at = now
    return token


def revoke_token(session: Session, token_id: int, *, user_id: int | None = None,
                 account_id: int | None = None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id or token.account_id != account_id:
        raise NotFound("Token não encontrado.")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
    return token


# -- OpenID Connect (gov.br-style) ------------------------------------------------------------------
def _masked_cpf(cpf: str) -> str:
    return f"{cpf[:4]}***.***-{cpf[-2:]}" if len(cpf) == 14 else "***"


def _prove_by_govbr(session: Session, account: PortalAccount, email: str, verified: bool) -> None:
    """gov.br vouches that the person signing in holds the account's CPF: the account is proven in full.

    Whoever created the account with a password may not have been that person (anyone can type a CPF): unless
    the provider verified the same e-mail, the password stops working and every other session ends, and the
    e-mail becomes the one gov.br verified. The CPF's holder keeps the account; an impostor loses it.
    """
    now = clock.now()
    same_email = verified and email == account.email
    if proven_in_full(session, account):
        if same_email and account.email_confirmed_at is None:
            account.email_confirmed_at, account.email_token_hash = now, None
        return
    taken_over = bool(account.password_hash) and not same_email
    if taken_over:
        account.password_hash = None
        revoke_all(session, PORTAL, account.id, "identidade_govbr")
    if verified and _EMAIL_RE.match(email) and email != account.email and not _email_taken(session, email):
        account.email = email
    if verified and email == account.email:
        account.email_confirmed_at, account.email_token_hash = now, None
    prove_in_full(session, account, "govbr", "gov.br", f"Login gov.br do CPF {_masked_cpf(account.cpf or '')}")
    if taken_over:
        record_event(session, account.id, "gov.br", "senha_revogada", "O titular do CPF entrou pelo gov.br: a senha "
                     "criada no cadastro deixou de valer e as outras sessões foram encerradas.")


def account_for_oidc(session: Session, issuer: str, claims: dict[str, object], base_url: str = "") -> PortalAccount:
    """The consumer account for an OpenID Connect login, bound on first use and proven in full.

    gov.br puts the CPF in ``sub``; other providers may send a ``cpf`` claim. An account already bound
    to the subject is used as it is; else the account with that CPF is bound to it; else a consumer
    account is created (its e-mail confirmed when the provider says ``email_verified``, otherwise a
    confirmation link is e-mailed as for a sign-up with password). In each case the login proves the CPF
    (:func:`_prove_by_govbr`).
    """
    sub = str(claims.get("sub") or "")
    if not sub:
        raise AccountError({"oidc": "O provedor de identidade não informou quem é você (sub)."})
    subject = f"{issuer}|{sub}"[:300]
    email = _clean_email(str(claims.get("email") or ""))
    verified = bool(claims.get("email_verified"))
    account = session.scalars(select(PortalAccount).where(PortalAccount.oidc_subject == subject)).first()
    if account is not None:
        _prove_by_govbr(session, account, email, verified)
        return account
    cpf = canonical_cpf(str(claims.get("cpf") or sub))
    if cpf is None:
        raise AccountError({"oidc": "O provedor de identidade não informou um CPF válido; crie sua conta com "
                                    "CPF e e-mail."})
    account = session.scalars(select(PortalAccount).where(PortalAccount.cpf == cpf)).first()
    now = clock.now()
    if account is not None:
        account.oidc_subject = subject
        _prove_by_govbr(session, account, email, verified)
        return account
    if not _EMAIL_RE.match(email):
        raise AccountError({"email": "O provedor de identidade não informou um e-mail; crie sua conta com CPF e "
                                     "e-mail."})
    if _email_taken(session, email):
        raise AccountError({"email": "Já existe uma conta com o e-mail informado pelo provedor. Entre com ela e "
                                     "sua senha."})
    name = str(claims.get("name") or claims.get("given_name") or email.split("@")[0])[:200]
    account = PortalAccount(kind="consumidor", name=name, email=email, cpf=cpf, oidc_subject=subject,
                            email_confirmed_at=now if verified else None, created_at=now)
    session.add(account)
    session.flush()
    if not verified:
        _queue_confirmation(session, account, base_url)
    prove_in_full(session, account, "govbr", "gov.br", f"Login gov.br do CPF {_masked_cpf(cpf)}")
    return account
