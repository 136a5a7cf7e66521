"""A consumer's proof of identity on a real database (:mod:`engine.parties.identity`): a code sent to the contact
recorded on one case opens that case only; an attendant's confirmation in person or a gov.br login opens every
case of the CPF, except those whose consumer has another name until staff resolve the divergence; every step
is in the account's audit trail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from engine import clock
from engine.actors import Actor
from engine.errors import NotFound, PermissionDenied
from engine.parties.accounts import account_for_oidc, actor_for_account, confirm_email, register_consumer
from engine.parties.case_parties import visible_case_ids
from engine.parties.identity import (
    ProofError,
    confirm_in_person,
    divergent_account_name,
    names_match,
    open_holds,
    request_case_code,
    resolve_hold,
    verify_case_code,
)
from engine.parties.models import OutboundEmail, PortalAccount
from engine.parties.proof_models import AccountEvent, IdentityProof, OutboundSms, PartyLinkHold
from engine.parties.proofs import CODES_PER_HOUR
from engine.runtime import Runtime
from engine.store.login_sessions import PORTAL, live_subject, open_session

CPF = "529.982.247-25"


def account(runtime: Runtime, name: str = "João da Silva", email: str = "joao.conta@example.com") -> int:
    with runtime.Session.begin() as session:
        signup = register_consumer(session, name=name, cpf=CPF, email=email, password="segredo123")
        confirm_email(session, signup.token)
        return signup.account.id


def seen(runtime: Runtime, account_id: int) -> list[int]:
    with runtime.Session() as session:
        actor = actor_for_account(session, session.get(PortalAccount, account_id))
    with runtime.db.connect() as conn:
        return sorted(conn.scalars(visible_case_ids(actor)))


def sent_code(runtime: Runtime, to: str) -> str:
    with runtime.Session() as session:
        body = session.scalars(select(OutboundEmail.body).where(OutboundEmail.to_address == to,
                                                                OutboundEmail.kind == "codigo_caso")
                               .order_by(OutboundEmail.id.desc())).first()
    assert body, f"nenhum código para {to}"
    return re.search(r"Procon: (\d{6})", body).group(1)


def protocol_of(runtime: Runtime, case_id: int) -> str:
    from engine.store.models import Case

    with runtime.Session() as session:
        return session.get(Case, case_id).protocol


def test_names_match_ignoring_accents_particles_and_middle_names() -> None:
    assert names_match("João da Silva", "JOAO SILVA")
    assert names_match("Maria Santos", "Maria Aparecida dos Santos")
    assert not names_match("João da Silva", "Maria da Silva")
    assert not names_match("", "João")


def test_a_code_to_the_email_on_the_case_opens_that_case_only(runtime: Runtime, atendente: Actor,
                                                              complaint: dict[str, str]) -> None:
    first = runtime.start_case("reclamacao", atendente, complaint)  # e-mail on the case: joao@example.com
    second = runtime.start_case("reclamacao", atendente, dict(complaint, consumidor_email="outro@example.com"))
    account_id = account(runtime)
    assert seen(runtime, account_id) == []
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, account_id)
        request_case_code(session, me, protocol_of(runtime, first.case_id).lower(), "email")
    code = sent_code(runtime, "joao@example.com")  # to the case's e-mail, not the account's
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, account_id)
        wrong = "000000" if code != "000000" else "111111"
        assert verify_case_code(session, me, protocol_of(runtime, first.case_id), wrong) is None
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, account_id)
        assert verify_case_code(session, me, protocol_of(runtime, first.case_id), code) == first.case_id
    assert seen(runtime, account_id) == [first.case_id]  # the second case waits for its own code
    with runtime.Session.begin() as session:  # the code works once
        me = session.get(PortalAccount, account_id)
        assert verify_case_code(session, me, protocol_of(runtime, first.case_id), code) is None
    with runtime.Session() as session:
        actions = list(session.scalars(select(AccountEvent.action).where(AccountEvent.account_id == account_id)
                                       .order_by(AccountEvent.id)))
        assert actions == ["codigo_caso_enviado", "codigo_caso_incorreto", "caso_vinculado", "codigo_caso_incorreto"]
        proof = session.scalars(select(IdentityProof)).one()
        assert (proof.method, proof.case_id, proof.detail) == ("codigo_email", first.case_id,
                                                                "Código enviado para j***@e***.com")
    assert second.case_id not in seen(runtime, account_id)


def test_a_stranger_learns_nothing_and_cannot_flood_anyone(runtime: Runtime, atendente: Actor,
                                                           complaint: dict[str, str]) -> None:
    other = runtime.start_case("reclamacao", atendente, dict(complaint, consumidor_cpf="168.995.350-09"))
    account_id = account(runtime)
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, account_id)
        request_case_code(session, me, "NAO-EXISTE-1", "email")  # no error: the same answer as a real one
        request_case_code(session, me, protocol_of(runtime, other.case_id), "email")  # someone else's case
    with runtime.Session() as session:
        assert session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "codigo_caso")).first() is None
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, account_id)
        for _ in range(CODES_PER_HOUR - 2):
            request_case_code(session, me, "NAO-EXISTE-1", "email")
    with runtime.Session.begin() as session, pytest.raises(ProofError) as refused:
        request_case_code(session, session.get(PortalAccount, account_id), "NAO-EXISTE-1", "email")
    assert "muitos códigos" in refused.value.errors["protocolo"]


def test_five_wrong_tries_spend_the_code_and_it_expires(runtime: Runtime, atendente: Actor,
                                                        complaint: dict[str, str],
                                                        frozen_clock: clock.FrozenClock) -> None:
    case = runtime.start_case("reclamacao", atendente, complaint)
    protocol = protocol_of(runtime, case.case_id)
    account_id = account(runtime)

    def ask() -> str:
        with runtime.Session.begin() as session:
            request_case_code(session, session.get(PortalAccount, account_id), protocol, "email")
        return sent_code(runtime, "joao@example.com")

    def try_code(typed: str) -> int | None:
        with runtime.Session.begin() as session:
            return verify_case_code(session, session.get(PortalAccount, account_id), protocol, typed)

    code = ask()
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for _ in range(5):
        assert try_code(wrong) is None
    assert try_code(code) is None  # spent
    code = ask()
    frozen_clock.advance(dt.timedelta(minutes=16))
    assert try_code(code) is None  # expired
    frozen_clock.advance(dt.timedelta(hours=1))
    assert try_code(ask()) == case.case_id


def test_sms_codes_wait_in_the_outbox(runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    case = runtime.start_case("reclamacao", atendente, complaint)
    account_id = account(runtime)
    with runtime.Session.begin() as session:
        request_case_code(session, session.get(PortalAccount, account_id), protocol_of(runtime, case.case_id), "sms")
    with runtime.Session() as session:
        sms = session.scalars(select(OutboundSms)).one()
        assert sms.to_number == complaint["consumidor_telefone"] and sms.status == "pendente"
        code = re.search(r"Procon: (\d{6})", sms.body).group(1)
    with runtime.Session.begin() as session:
        assert verify_case_code(session, session.get(PortalAccount, account_id), protocol_of(runtime, case.case_id),
                                code) == case.case_id
    with runtime.Session() as session:
        assert session.scalars(select(IdentityProof.method)).one() == "codigo_sms"


def test_in_person_confirmation_is_for_attendants_and_audited(runtime: Runtime, atendente: Actor,
                                                              analista: Actor, complaint: dict[str, str]) -> None:
    case = runtime.start_case("reclamacao", atendente, complaint)
    account_id = account(runtime)
    with runtime.Session.begin() as session, pytest.raises(PermissionDenied):
        confirm_in_person(session, account_id, analista, "RG 12.345.678-9")
    with runtime.Session.begin() as session, pytest.raises(ProofError) as empty:
        confirm_in_person(session, account_id, atendente, " ")
    assert "documento com foto" in empty.value.errors["documento"]
    with runtime.Session.begin() as session, pytest.raises(NotFound):
        confirm_in_person(session, 999, atendente, "RG 1234")
    with runtime.Session.begin() as session:
        confirm_in_person(session, account_id, atendente, "RG 12.345.678-9")
    assert seen(runtime, account_id) == [case.case_id]
    with runtime.Session() as session:
        event = session.scalars(select(AccountEvent).where(AccountEvent.action == "identidade_comprovada")).one()
        assert event.actor == "ana" and event.details["detail"] == "Documento conferido: RG 12.345.678-9"


def test_a_divergent_name_holds_the_case_until_staff_resolve_it(runtime: Runtime, atendente: Actor,
                                                                atendente2: Actor, complaint: dict[str, str]) -> None:
    account_id = account(runtime)  # João da Silva
    with runtime.Session() as session:  # what the staff form asks before saving
        assert divergent_account_name(session, CPF, "Maria Pereira") == "João da Silva"
        assert divergent_account_name(session, CPF, "JOAO SILVA") is None
        assert divergent_account_name(session, "168.995.350-09", "Maria Pereira") is None
    mismatch = runtime.start_case("reclamacao", atendente, dict(complaint, consumidor_nome="Maria Pereira"))
    same = runtime.start_case("reclamacao", atendente, complaint)
    with runtime.Session.begin() as session:
        confirm_in_person(session, account_id, atendente, "CNH 123456789")
    assert seen(runtime, account_id) == [same.case_id]  # Maria's case (a typo in the CPF?) is held
    with runtime.Session() as session:
        [hold] = open_holds(session)
        assert (hold.hold.case_id, hold.hold.case_name, hold.hold.account_name) == (
            mismatch.case_id, "Maria Pereira", "João da Silva")
        assert open_holds(session, unit="OUTRA") == []
    with runtime.Session.begin() as session, pytest.raises(NotFound):  # not a case of the attendant's unit
        resolve_hold(session, hold.hold.id, atendente2, "vincular", unit="OUTRA")
    with runtime.Session.begin() as session, pytest.raises(ProofError):
        resolve_hold(session, hold.hold.id, atendente, "talvez")
    with runtime.Session.begin() as session:
        resolve_hold(session, hold.hold.id, atendente, "vincular", "Nome de casada confirmado pelo telefone.")
    assert seen(runtime, account_id) == sorted([mismatch.case_id, same.case_id])
    with runtime.Session() as session:
        assert open_holds(session) == []
        assert session.scalars(select(PartyLinkHold.resolved_by)).one() == "ana"


def test_cases_registered_before_the_proof_are_checked_when_it_comes(runtime: Runtime, atendente: Actor,
                                                                     complaint: dict[str, str]) -> None:
    earlier = runtime.start_case("reclamacao", atendente, dict(complaint, consumidor_nome="Maria Pereira"))
    account_id = account(runtime)  # the account came later: the case had nobody to be held from
    with runtime.Session.begin() as session:
        confirm_in_person(session, account_id, atendente, "RG 12.345.678-9")
    assert seen(runtime, account_id) == []
    with runtime.Session() as session:
        assert [h.hold.case_id for h in open_holds(session)] == [earlier.case_id]


def test_gov_br_proves_in_full_and_takes_an_impostors_account_over(runtime: Runtime, atendente: Actor,
                                                                    complaint: dict[str, str]) -> None:
    case = runtime.start_case("reclamacao", atendente, complaint)
    squatter = account(runtime, "João da Silva", "impostor@example.com")  # typed João's CPF and name
    with runtime.Session.begin() as session:
        impostor_session = open_session(session, PORTAL, squatter)
    claims = {"sub": "52998224725", "name": "JOAO DA SILVA", "email": "joao@example.com", "email_verified": True}
    with runtime.Session.begin() as session:
        bound = account_for_oidc(session, "https://sso.acesso.gov.br", claims)
        assert bound.id == squatter
        assert bound.password_hash is None and bound.email == "joao@example.com"
        assert live_subject(session, PORTAL, impostor_session) is None  # the impostor's session ended
    assert seen(runtime, squatter) == [case.case_id]
    with runtime.Session() as session:
        proof = session.scalars(select(IdentityProof)).one()
        assert proof.method == "govbr" and proof.case_id is None and "529.***.***-25" in proof.detail
        assert "senha_revogada" in session.scalars(select(AccountEvent.action)).all()


def test_gov_br_keeps_the_password_of_an_account_with_the_same_verified_email(runtime: Runtime) -> None:
    account_id = account(runtime, "João da Silva", "joao@example.com")
    claims = {"sub": "52998224725", "email": "joao@example.com", "email_verified": True}
    with runtime.Session.begin() as session:
        bound = account_for_oidc(session, "https://sso.acesso.gov.br", claims)
        assert bound.id == account_id and bound.password_hash
    with runtime.Session.begin() as session:  # the second login proves nothing new
        account_for_oidc(session, "https://sso.acesso.gov.br", claims)
    with runtime.Session() as session:
        assert len(session.scalars(select(IdentityProof)).all()) == 1
