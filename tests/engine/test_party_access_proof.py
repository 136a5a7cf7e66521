"""Issue 13, findings 2 and 3 and the sign-up item of 5, on the engine alone (real database): knowing a CPF or
a CNPJ opens nothing. A consumer's account sees the cases it filed itself; the cases filed at the counter under
its CPF only after proof. The first person to sign up with a CNPJ answers for nothing until proven. A sign-up
with a CPF or e-mail that already has an account says nothing different and tells the owner instead.

These tests use only the sign-up and visibility functions that existed before the fix, so they fail on the old
code (it showed every case of the CPF / CNPJ to whoever signed up first) and pass now.
"""

from __future__ import annotations

from sqlalchemy import func, select

from engine.actors import Actor
from engine.parties.accounts import actor_for_account, confirm_email, register_consumer, register_supplier
from engine.parties.case_parties import is_party_of, may_work_on, visible_case_ids
from engine.parties.models import OutboundEmail, PortalAccount, SupplierCompany
from engine.runtime import Runtime

CPF = "529.982.247-25"
CNPJ = "12.ABC.345/01DE-35"


def confirmed_consumer(runtime: Runtime, name: str = "Mallory Impostora", cpf: str = CPF,
                       email: str = "mallory@example.com") -> int:
    with runtime.Session.begin() as session:
        signup = register_consumer(session, name=name, cpf=cpf, email=email, password="segredo123")
        confirm_email(session, signup.token)
        return signup.account.id


def actor_of(runtime: Runtime, account_id: int) -> Actor:
    with runtime.Session() as session:
        return actor_for_account(session, session.get(PortalAccount, account_id))


def visible(runtime: Runtime, actor: Actor) -> list[int]:
    with runtime.db.connect() as conn:
        return sorted(conn.scalars(visible_case_ids(actor)))


def test_knowing_a_cpf_does_not_open_the_cases_filed_at_the_counter(runtime: Runtime, atendente: Actor,
                                                                     complaint: dict[str, str]) -> None:
    counter = runtime.start_case("reclamacao", atendente, complaint)  # João's complaint, CPF 529.982.247-25
    account_id = confirmed_consumer(runtime)  # someone else signs up with João's CPF and her own e-mail
    actor = actor_of(runtime, account_id)
    assert visible(runtime, actor) == []
    with runtime.db.connect() as conn:
        assert not is_party_of(conn, counter.case_id, actor)
        assert not may_work_on(conn, counter.case_id, actor, "consumidor")
    # What the account files itself it sees at once.
    own = runtime.start_case("reclamacao", actor, {**complaint, "consumidor_nome": "Mallory Impostora",
                                                    "consumidor_email": "mallory@example.com", "canal": "portal"})
    assert visible(runtime, actor_of(runtime, account_id)) == [own.case_id]


def test_the_first_sign_up_with_a_cnpj_answers_for_nothing(runtime: Runtime, atendente: Actor,
                                                           complaint: dict[str, str]) -> None:
    runtime.start_case("reclamacao", atendente, complaint)  # a complaint against CNPJ 12.ABC.345/01DE-35
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj=CNPJ, company_name="Empresa Sequestrada S.A.", name="Mallory",
                                   email="mallory@example.com", password="segredo123")
        confirm_email(session, signup.token)
        account_id = signup.account.id
    actor = actor_of(runtime, account_id)
    assert actor.parties == frozenset() and visible(runtime, actor) == []
    with runtime.Session() as session:  # what the pending account typed is not the company's name
        names = list(session.scalars(select(SupplierCompany.name)))
        assert "Empresa Sequestrada S.A." not in names


def test_sign_up_with_a_taken_cpf_or_email_looks_the_same_and_tells_the_owner(runtime: Runtime) -> None:
    owner_id = confirmed_consumer(runtime, "João da Silva", CPF, "joao@example.com")
    with runtime.Session.begin() as session:  # same CPF, another e-mail: no error, no new account
        register_consumer(session, name="Outra Pessoa", cpf=CPF, email="outra@example.com", password="segredo123")
    with runtime.Session.begin() as session:  # another CPF, the same e-mail: no error either
        register_consumer(session, name="Outra Pessoa", cpf="168.995.350-09", email="JOAO@example.com",
                          password="segredo123")
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(PortalAccount)) == 1
        owner = session.get(PortalAccount, owner_id)
        warnings = list(session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "tentativa_cadastro")))
        assert [w.to_address for w in warnings] == [owner.email, owner.email]
        assert "outra@example.com" not in " ".join(session.scalars(select(OutboundEmail.to_address)))
        assert all("CPF" in w.body or "e-mail" in w.body for w in warnings)
