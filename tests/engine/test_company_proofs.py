"""A representative's proof that it acts for a CNPJ, on a real database (:mod:`engine.parties.companies`): pending
until a code sent to the company's e-mail (from the CNPJ service), gov.br claims with the CNPJ or the state
staff's approval of the documents sent; refused requests end the membership; the public name never comes
from what a pending account typed; a membership from before proofing exists starts pending too."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.actors import Actor
from engine.errors import NotFound, PermissionDenied
from engine.forms.submission import UploadedFile
from engine.parties.accounts import actor_for_account, confirm_email, register_supplier
from engine.parties.companies import (
    add_document,
    approve,
    cnpjs_in_claims,
    open_requests,
    prove_by_govbr_claims,
    public_names,
    refuse,
    refused_requests,
    review_queue,
    send_company_code,
    verify_company_code,
)
from engine.parties.identity import ProofError
from engine.parties.models import OutboundEmail, PortalAccount, SupplierCompany, SupplierMember
from engine.parties.proof_models import AccountEvent, RepresentativeProof
from engine.runtime import Runtime

CNPJ = "12.ABC.345/01DE-35"
PDF = b"%PDF-1.4\n% contrato social\n"
STATE = Actor("gabi", "Gabriela Estadual", frozenset({"gestor_estadual"}))
ADMIN = Actor("admin", "Administradora", frozenset({"admin"}))


def pending(runtime: Runtime, email: str = "mallory@example.com", typed: str = "Nome Inventado S.A.") -> int:
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj=CNPJ, company_name=typed, name="Pessoa", email=email,
                                   password="segredo123")
        confirm_email(session, signup.token)
        return signup.account.id


def member_of(runtime: Runtime, account_id: int) -> int:
    with runtime.Session() as session:
        [request] = open_requests(session, session.get(PortalAccount, account_id))
        return request.member.id


def parties(runtime: Runtime, account_id: int) -> frozenset:
    with runtime.Session() as session:
        return actor_for_account(session, session.get(PortalAccount, account_id)).parties


def test_a_code_to_the_company_email_proves_and_names_the_company(runtime: Runtime) -> None:
    account_id = pending(runtime)
    member_id = member_of(runtime, account_id)
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, account_id)
        shown = send_company_code(session, me, member_id, "juridico@loja.example", "LOJA EXEMPLO LTDA")
    assert shown == "j***@l***.example"
    with runtime.Session() as session:
        mail = session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "codigo_empresa")).one()
        assert mail.to_address == "juridico@loja.example" and "mallory@example.com" in mail.body
        code = re.search(r"este código: (\d{6})", mail.body).group(1)
    with runtime.Session.begin() as session:
        assert not verify_company_code(session, session.get(PortalAccount, account_id), member_id, "12345")
    assert parties(runtime, account_id) == frozenset()
    with runtime.Session.begin() as session:
        assert verify_company_code(session, session.get(PortalAccount, account_id), member_id, code)
    assert parties(runtime, account_id) == {("fornecedor", CNPJ)}
    with runtime.Session() as session:
        assert public_names(session, [CNPJ]) == {CNPJ: "LOJA EXEMPLO LTDA"}
        proof = session.scalars(select(RepresentativeProof)).one()
        assert (proof.status, proof.method, proof.typed_company_name) == ("comprovado", "codigo_email",
                                                                         "Nome Inventado S.A.")


def test_a_company_without_an_email_is_told_the_other_ways(runtime: Runtime) -> None:
    account_id = pending(runtime)
    with runtime.Session.begin() as session, pytest.raises(ProofError) as refused:
        send_company_code(session, session.get(PortalAccount, account_id), member_of(runtime, account_id), "", "X")
    assert "gov.br" in refused.value.errors["codigo"] and "documentos" in refused.value.errors["codigo"]


def test_gov_br_claims_must_carry_the_cnpj(runtime: Runtime) -> None:
    account_id = pending(runtime)
    member_id = member_of(runtime, account_id)
    assert cnpjs_in_claims({"cnpjs": ["12abc34501de35", "lixo"]}) == {CNPJ}
    assert cnpjs_in_claims({"empresas": [{"cnpj": "11222333000181"}]}, "empresas") == {"11.222.333/0001-81"}
    with runtime.Session.begin() as session:
        assert not prove_by_govbr_claims(session, session.get(PortalAccount, account_id), member_id,
                                         {"11.222.333/0001-81"})
    assert parties(runtime, account_id) == frozenset()
    with runtime.Session.begin() as session:
        assert prove_by_govbr_claims(session, session.get(PortalAccount, account_id), member_id, {CNPJ})
    assert parties(runtime, account_id) == {("fornecedor", CNPJ)}
    with runtime.Session() as session:  # gov.br gave no name: nothing typed becomes public
        assert public_names(session, [CNPJ]) == {}
        assert session.scalars(select(SupplierCompany.name)).one() == ""


def test_documents_are_checked_then_the_state_staff_approve_or_refuse(runtime: Runtime, atendente: Actor) -> None:
    first = pending(runtime, "a@loja.example")
    second = pending(runtime, "b@loja.example", "Outro Nome")  # a second claim on the same CNPJ: no error
    with runtime.Session.begin() as session:
        me = session.get(PortalAccount, first)
        member_id = member_of(runtime, first)
        for kind, upload, field in [
                ("contrato_social", UploadedFile("contrato.exe", "application/octet-stream", b"MZ\x90"), "arquivo"),
                ("contrato_social", UploadedFile("contrato.pdf", "application/pdf", b"MZ\x90 not a pdf"), "arquivo"),
                ("contrato_social", UploadedFile("grande.pdf", "application/pdf", b"%PDF-" + b"0" * 10485761),
                 "arquivo"),
                ("certidao", UploadedFile("c.pdf", "application/pdf", PDF), "tipo")]:
            with pytest.raises(ProofError) as bad:
                add_document(session, me, member_id, kind, upload)
            assert field in bad.value.errors
        add_document(session, me, member_id, "contrato_social", UploadedFile("contrato.pdf", "application/pdf", PDF))
    with runtime.Session() as session:
        queue = review_queue(session)
        assert [r.account.email for r in queue] == ["a@loja.example", "b@loja.example"]
        assert [d.filename for d in queue[0].documents] == ["contrato.pdf"]
        first_proof, second_proof = queue[0].proof.id, queue[1].proof.id
    for who in (atendente, Actor("x", "Conta do portal", frozenset({"fornecedor"}))):
        with runtime.Session.begin() as session, pytest.raises(PermissionDenied):
            approve(session, who, first_proof, "LOJA EXEMPLO LTDA")
    with runtime.Session.begin() as session, pytest.raises(ProofError) as nameless:
        approve(session, STATE, first_proof, "  ")
    assert "razão social" in nameless.value.errors["nome_publico"]
    with runtime.Session.begin() as session:
        approve(session, STATE, first_proof, "LOJA EXEMPLO LTDA", "Contrato social conferido")
    with runtime.Session.begin() as session, pytest.raises(ProofError) as short:
        refuse(session, ADMIN, second_proof, "não")
    assert "motivo" in short.value.errors
    with runtime.Session.begin() as session:
        refuse(session, ADMIN, second_proof, "A procuração não foi enviada.")
    with runtime.Session.begin() as session, pytest.raises(ProofError):
        approve(session, ADMIN, second_proof, "X")  # decided already
    assert parties(runtime, first) == {("fornecedor", CNPJ)} and parties(runtime, second) == frozenset()
    with runtime.Session() as session:
        [refused] = refused_requests(session, session.get(PortalAccount, second))
        assert refused.proof.note == "A procuração não foi enviada."
        assert review_queue(session) == []
        assert [r.proof.decided_by for r in review_queue(session, "recusado")] == ["admin"]
        actions = set(session.scalars(select(AccountEvent.action)))
        assert {"documento_enviado", "representante_comprovado", "representante_recusado"} <= actions
    with runtime.Session.begin() as session, pytest.raises(NotFound):  # nothing left to prove for B
        add_document(session, session.get(PortalAccount, second), member_of_any(runtime, second), "outro",
                     UploadedFile("p.pdf", "application/pdf", PDF))


def member_of_any(runtime: Runtime, account_id: int) -> int:
    with runtime.Session() as session:
        return session.scalars(select(SupplierMember.id).where(SupplierMember.account_id == account_id)).one()


def test_a_membership_from_before_proofing_starts_pending(runtime: Runtime) -> None:
    with runtime.Session.begin() as session:  # as an older database has it: company, account, admin member
        company = SupplierCompany(cnpj=CNPJ, name="Nome Digitado Por Qualquer Um")
        account = PortalAccount(kind="fornecedor", name="Antigo", email="antigo@loja.example",
                                password_hash="x", email_confirmed_at=None)
        session.add_all([company, account])
        session.flush()
        session.add(SupplierMember(company_id=company.id, account_id=account.id, is_admin=True))
        account_id = account.id
    with runtime.Session.begin() as session:
        account = session.get(PortalAccount, account_id)
        account.email_confirmed_at = account.created_at
    assert parties(runtime, account_id) == frozenset()
    with runtime.Session.begin() as session:
        assert public_names(session, [CNPJ]) == {}
        [request] = open_requests(session, session.get(PortalAccount, account_id))
        assert request.proof.status == "pendente"
        prove_by_govbr_claims(session, session.get(PortalAccount, account_id), request.member.id, {CNPJ})
    with runtime.Session() as session:
        assert session.scalars(select(SupplierCompany.name)).one() == ""  # the old typed name is dropped
