"""Portal accounts on a real database: consumer sign-up and confirmation (e-mailed through the outbox to
a real local SMTP server), supplier company accounts with invited representatives, API tokens, and the
case parties each account answers for (once proven: :mod:`engine.parties.identity`, :mod:`engine.parties.companies`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.errors import NotFound, PermissionDenied
from engine.parties.accounts import (
    AccountError,
    accept_invite,
    actor_for_account,
    authenticate_account,
    confirm_email,
    invite_representative,
    issue_token,
    register_consumer,
    register_supplier,
    remove_representative,
    resolve_token,
    revoke_token,
)
from engine.parties.case_parties import is_party_of, visible_case_ids
from engine.parties.companies import approve, open_requests
from engine.parties.identity import confirm_in_person
from engine.parties.models import CaseParty, OutboundEmail, PortalAccount, SupplierMember
from engine.runtime import Runtime
from engine.worker.email_outbox import send_pending
from tasks.context import TaskSettings
from tests.support.smtp_support import Sink, start

CPF = "529.982.247-25"
CNPJ = "11.222.333/0001-81"
STAFF = Actor("admin", "Administradora", frozenset({"admin"}))


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, Controller]]:
    handler = Sink()
    controller = start(handler)
    yield handler, controller
    controller.stop()


def consumer(runtime: Runtime, cpf: str = CPF, email: str = "maria@example.com",
             name: str = "Maria Souza") -> tuple[int, str]:
    with runtime.Session.begin() as session:
        signup = register_consumer(session, name=name, cpf=cpf, email=email, password="segredo123",
                                   base_url="https://procon.example")
        return signup.account.id, signup.token


def prove_representative(runtime: Runtime, account_id: int, name: str = "LOJA EXEMPLO LTDA") -> None:
    """The Procon's state staff approve the account's pending request (as in the Empresas queue)."""
    with runtime.Session.begin() as session:
        [request] = open_requests(session, session.get(PortalAccount, account_id))
        approve(session, STAFF, request.proof.id, name)


def test_consumer_signs_up_confirms_by_email_and_then_sees_her_cases(
        runtime: Runtime, atendente, complaint, smtp: tuple[Sink, Controller]) -> None:
    account_id, _token = consumer(runtime, cpf="52998224725", email=" Maria@Example.com ", name=complaint[
        "consumidor_nome"])
    handler, controller = smtp
    settings = TaskSettings(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_timeout_s=2.0,
                            mail_from="Procon <nao-responda@procon.example>")
    assert send_pending(runtime.db, runtime.services, settings) == 1
    assert send_pending(runtime.db, runtime.services, settings) == 0  # sent once
    message = handler.message()
    assert message["To"] == "maria@example.com"
    link = next(line for line in message.get_content().splitlines() if "/portal/confirmar/" in line)
    token = link.rsplit("/", 1)[1]

    started = runtime.start_case("reclamacao", atendente, {**complaint, "consumidor_cpf": CPF})
    with runtime.Session() as session:
        account = session.get(PortalAccount, account_id)
        assert account.cpf == CPF and account.email == "maria@example.com"
        unconfirmed = actor_for_account(session, account)
        assert unconfirmed.parties == frozenset()  # nothing visible before the e-mail is confirmed
    with runtime.Session.begin() as session:
        confirm_email(session, token)
    with runtime.Session.begin() as session, pytest.raises(NotFound):
        confirm_email(session, token)  # a link works once
    with runtime.Session() as session:
        account = authenticate_account(session, "529.982.247-25", "segredo123")
        assert account is not None and account.id == account_id
        assert authenticate_account(session, "maria@example.com", "errada123") is None
        actor = actor_for_account(session, account)  # confirmed, not proven: the CPF opens nothing yet
        assert actor.parties == frozenset() and actor.limited == {("consumidor", CPF)} and actor.is_party
        with runtime.db.connect() as conn:
            assert not is_party_of(conn, started.case_id, actor)
    with runtime.Session.begin() as session:  # at the Procon, an attendant sees her ID
        confirm_in_person(session, account_id, atendente, "RG 12.345.678-9")
    with runtime.Session() as session:
        actor = actor_for_account(session, session.get(PortalAccount, account_id))
        assert actor.parties == {("consumidor", CPF)}
        with runtime.db.connect() as conn:
            assert is_party_of(conn, started.case_id, actor)
            assert list(conn.scalars(visible_case_ids(actor))) == [started.case_id]


def test_sign_up_errors_name_each_field_and_save_nothing(runtime: Runtime) -> None:
    consumer(runtime)
    with runtime.Session() as session, pytest.raises(AccountError) as error:
        register_consumer(session, name=" ", cpf="111.111.111-11", email="maria@", password="curta")
    assert set(error.value.errors) == {"nome", "cpf", "email", "senha"}
    assert "CPF inválido" in error.value.errors["cpf"]
    # A taken CPF and e-mail are no longer errors (issue 13, 5: sign-up does not reveal them): nothing is
    # created and the owner of the account, never confirmed, gets a new confirmation link.
    with runtime.Session.begin() as session:
        assert register_consumer(session, name="Outra", cpf=CPF, email="MARIA@example.com",
                                 password="segredo123").account is None
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(PortalAccount)) == 1
        kinds = list(session.scalars(select(OutboundEmail.kind).order_by(OutboundEmail.id)))
        assert kinds == ["confirmacao", "confirmacao"]


def test_supplier_company_admin_invites_and_removes_a_representative(runtime: Runtime) -> None:
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj="11222333000181", company_name="Loja Exemplo Ltda",
                                   name="Carlos Admin", email="carlos@loja.example", password="segredo123")
        confirm_email(session, signup.token)
        admin_id = signup.account.id
    with runtime.Session.begin() as session:  # pending: it may not invite anyone yet
        admin = session.get(PortalAccount, admin_id)
        with pytest.raises(PermissionDenied):
            invite_representative(session, admin, admin_company(session, admin_id), "rep@loja.example")
    prove_representative(runtime, admin_id)
    with runtime.Session.begin() as session:  # someone else signs up with the CNPJ: pending, no error
        other = register_supplier(session, cnpj=CNPJ, company_name="Outra", name="X", email="x@loja.example",
                                  password="segredo123")
        confirm_email(session, other.token)
        assert actor_for_account(session, other.account).parties == frozenset()
    with runtime.Session.begin() as session:
        admin = session.get(PortalAccount, admin_id)
        company_id = actor_company(session, admin)
        invitation = invite_representative(session, admin, company_id, "rep@loja.example")
        token = invitation.token
    with runtime.Session.begin() as session:
        rep = accept_invite(session, token, name="Rita Representante", password="segredo123")
        rep_id = rep.id
        assert actor_for_account(session, rep).parties == {("fornecedor", CNPJ)}
    with runtime.Session.begin() as session, pytest.raises(NotFound):
        accept_invite(session, token, name="De novo", password="segredo123")
    with runtime.Session.begin() as session:
        rep = session.get(PortalAccount, rep_id)
        with pytest.raises(PermissionDenied):
            invite_representative(session, rep, company_id, "outro@loja.example")
        remove_representative(session, session.get(PortalAccount, admin_id), company_id, rep_id)
    with runtime.Session() as session:
        assert actor_for_account(session, session.get(PortalAccount, rep_id)).parties == frozenset()


def admin_company(session, account_id: int) -> int:
    return session.scalars(select(SupplierMember.company_id).where(SupplierMember.account_id == account_id)).one()


def actor_company(session, account: PortalAccount) -> int:
    from engine.parties.accounts import active_memberships

    [(member, company)] = active_memberships(session, account.id)
    assert member.is_admin and company.cnpj == CNPJ
    return company.id


def test_expired_invitation_is_refused(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj=CNPJ, company_name="Loja", name="Carlos", email="c@l.example",
                                   password="segredo123")
        admin_id = signup.account.id
    prove_representative(runtime, admin_id)
    with runtime.Session.begin() as session:
        admin = session.get(PortalAccount, admin_id)
        company_id = actor_company(session, admin)
        token = invite_representative(session, admin, company_id, "r@l.example").token
    frozen_clock.advance(dt.timedelta(days=8))
    with runtime.Session.begin() as session, pytest.raises(NotFound, match="expirou"):
        accept_invite(session, token, name="Rita", password="segredo123")


def test_api_tokens_are_hashed_scoped_expiring_and_revocable(runtime: Runtime,
                                                              frozen_clock: clock.FrozenClock) -> None:
    account_id, _ = consumer(runtime)
    with runtime.Session.begin() as session:
        with pytest.raises(AccountError):
            issue_token(session, name="app", scopes=["tudo"], account_id=account_id)
        issued = issue_token(session, name="Celular", scopes=["casos:ler"], account_id=account_id, days=30)
        secret, token_id = issued.secret, issued.token.id
        assert issued.token.token_hash != secret and secret.startswith(issued.token.prefix)
    with runtime.Session.begin() as session:
        assert resolve_token(session, secret).account_id == account_id
        assert resolve_token(session, secret + "x") is None
    frozen_clock.advance(dt.timedelta(days=31))
    with runtime.Session.begin() as session:
        assert resolve_token(session, secret) is None  # expired
        second = issue_token(session, name="Outro", scopes=["casos:ler", "tarefas:escrever"], account_id=account_id)
        with pytest.raises(NotFound):
            revoke_token(session, second.token.id, account_id=account_id + 1)
        revoke_token(session, second.token.id, account_id=account_id)
        assert resolve_token(session, second.secret) is None
        assert token_id != second.token.id


def test_case_parties_follow_the_case_data(runtime: Runtime, atendente, complaint) -> None:
    started = runtime.start_case("reclamacao", atendente, complaint)
    with runtime.Session() as session:
        rows = session.execute(select(CaseParty.role, CaseParty.party_key)
                               .where(CaseParty.case_id == started.case_id)).all()
    assert sorted(rows) == sorted([("consumidor", complaint["consumidor_cpf"]),
                                   ("fornecedor", complaint["fornecedor_cnpj"])])


def test_init_db_backfills_the_parties_of_cases_that_predate_the_table(runtime: Runtime, atendente,
                                                                       complaint) -> None:
    started = runtime.start_case("reclamacao", atendente, complaint)
    with runtime.db.begin() as conn:
        conn.execute(CaseParty.__table__.delete())
    runtime.init_db()
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(CaseParty)
                              .where(CaseParty.case_id == started.case_id)) == 2
