"""Every route of the portal, the public pages and the JSON API, walked as every kind of caller.

Callers: nobody signed in, consumer A, consumer B, supplier X's representative, supplier Y's
representative and an attendant. Case A is consumer A's complaint against supplier X, waiting for X's
answer to the CIP, with an invoice and a document; case B is consumer B's against Y. Each route is
called with case A's ids (or X's company), and each caller must get exactly the answer the table
says: the parties of case A get in, the others are told the page does not exist (404, so ids leak
nothing), the wrong kind of account is refused (403) and nobody signed in is sent to a login (302) or
gets 401 from the API. A route missing from the table fails the test, so a new route cannot be added
without saying who may use it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from engine.parties.accounts import active_memberships, confirm_email, register_supplier
from engine.parties.companies import open_requests
from engine.parties.models import ApiToken, PortalAccount
from engine.runtime import Runtime
from engine.store.login_sessions import PORTAL, STAFF, open_session
from engine.store.models import Attachment, User
from tests.webapp.test_api import CNPJ_Y, COMPLAINT_BODY, CPF_B, World, add_document, cip_sent, make_world
from webapp.sign_in import COOKIE_KEYS

CALLERS = ("anonimo", "consumidor_a", "consumidor_b", "fornecedor_x", "fornecedor_y", "ana")
PARTIES_OF_A = ("consumidor_a", "fornecedor_x")
LOGIN = 302  # sent to a login page

#: What each caller gets, by name; ``"*"`` is everyone else.
Expect = dict[str, int | tuple[int, ...]]


def only(allowed: dict[str, int | tuple[int, ...]], others: int | tuple[int, ...], **fixed: int) -> Expect:
    return {**allowed, **fixed, "*": others}


@dataclass(frozen=True)
class Call:
    endpoint: str
    method: str
    url: str
    expect: Expect
    body: dict[str, Any] | None = None
    api: bool = False


@dataclass
class Ids:
    case_a: int
    case_b: int
    task_a: str
    document_a: int
    attachment_a: int
    company_x: int
    account_x: int
    token_a: int
    #: the pending request of a representative who is none of the callers (Z asks to represent Y)
    pending_z: int = 0


def world_with_cases(runtime: Runtime) -> tuple[World, Ids]:
    world = make_world(runtime)
    invoice = base64.b64encode(b"%PDF-1.4\n% nota fiscal\n").decode()
    response = world.post("consumidor_a", "/api/v1/complaints", dict(
        COMPLAINT_BODY, nota_fiscal={"nome": "nota.pdf", "tipo": "application/pdf", "conteudo_base64": invoice}))
    assert response.status_code == 201, response.get_data(as_text=True)
    case_a = response.json["id"]
    response = world.post("ana", "/api/v1/complaints", dict(
        COMPLAINT_BODY, consumidor_nome="Paulo Costa", consumidor_cpf=CPF_B, consumidor_email="paulo@example.com",
        canal="telefone", fornecedor_cnpj=CNPJ_Y, fornecedor_nome="Outra Loja"))
    case_b = response.json["id"]
    task_a = cip_sent(world, case_a).task_id
    cip_sent(world, case_b)
    document_a = add_document(world, case_a, "ABCD-1234-EFGH")
    with runtime.Session() as session:
        attachment_a = session.scalars(select(Attachment.id).where(Attachment.case_id == case_a)).one()
        supplier_x = session.get(PortalAccount, world.ids["fornecedor_x"])
        [(_member, company_x)] = active_memberships(session, supplier_x.id)
        token_a = session.scalars(select(ApiToken.id).where(ApiToken.account_id == world.ids["consumidor_a"])).one()
        world.ids["ana_user"] = session.scalars(select(User.id).where(User.username == "ana")).one()
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj=CNPJ_Y, company_name="Outra Loja", name="Zé Pendente",
                                   email="ze@pendente.example", password="segredo123")
        confirm_email(session, signup.token)
        pending_z = signup.account.id
    with runtime.Session() as session:
        [request] = open_requests(session, session.get(PortalAccount, pending_z))
    return world, Ids(case_a, case_b, task_a, document_a, attachment_a, company_x.id, supplier_x.id, token_a,
                      request.member.id)


def portal_calls(i: Ids) -> list[Call]:
    case = f"/portal/casos/{i.case_a}"
    party_page = {"anonimo": LOGIN, "ana": LOGIN}
    consumer_only = only({"consumidor_a": 200, "consumidor_b": 200}, 403, **party_page)
    supplier_only = only({"fornecedor_x": 200, "fornecedor_y": 200}, 403, **party_page)
    public = only({}, 200)
    return [
        Call("portal_auth.index", "GET", "/portal/", only({c: LOGIN for c in CALLERS[1:5]}, 200)),
        Call("portal_auth.login", "GET", "/portal/entrar", public),
        Call("portal_auth.signup_consumer", "GET", "/portal/cadastro", public),
        Call("portal_auth.signup_supplier", "GET", "/portal/fornecedor/cadastro", public),
        # each caller types its own wrong login: five failures on one login would (rightly) answer 429
        Call("portal_auth.login", "POST", "/portal/entrar", only({}, 401), body={"login": "x-{caller}", "senha": "y"}),
        Call("portal_auth.signup_consumer", "POST", "/portal/cadastro", only({}, 422), body={}),
        Call("portal_auth.signup_supplier", "POST", "/portal/fornecedor/cadastro", only({}, 422), body={}),
        Call("portal_auth.invitation", "POST", "/portal/fornecedor/convite/convite-inventado", only({}, 404), body={}),
        Call("portal_auth.confirm", "GET", "/portal/confirmar/link-inventado", only({}, 404)),
        Call("portal_auth.invitation", "GET", "/portal/fornecedor/convite/convite-inventado", only({}, 404)),
        Call("portal_auth.logout", "POST", "/portal/sair", only({}, 302)),
        Call("portal_oidc.start", "GET", "/portal/oidc/entrar", only({}, 404)),  # no provider configured
        Call("portal_oidc.callback", "GET", "/portal/oidc/retorno", only({}, 404)),
        # The case of A and X: theirs, nobody else's.
        Call("portal_cases.case", "GET", case, only({p: 200 for p in PARTIES_OF_A}, 404, **party_page)),
        Call("portal_cases.document", "GET", f"{case}/documentos/{i.document_a}.pdf",
             only({p: 200 for p in PARTIES_OF_A}, 404, **party_page)),
        Call("portal_cases.attachment", "GET", f"{case}/anexos/{i.attachment_a}",
             only({p: 200 for p in PARTIES_OF_A}, 404, **party_page)),
        # X's task: only X, even consumer A (it is the supplier's to answer); an empty answer is refused (422).
        Call("portal_cases.task", "GET", f"{case}/tarefas/{i.task_a}", only({"fornecedor_x": 200}, 404, **party_page)),
        Call("portal_cases.task", "POST", f"{case}/tarefas/{i.task_a}", only({"fornecedor_x": 422}, 404, **party_page),
             body={}),
        Call("portal_consumer.index", "GET", "/portal/consumidor/", consumer_only),
        Call("portal_consumer.new_complaint", "GET", "/portal/consumidor/reclamacoes/nova", consumer_only),
        Call("portal_consumer.new_complaint", "POST", "/portal/consumidor/reclamacoes/nova",
             only({"consumidor_a": 422, "consumidor_b": 422}, 403, **party_page), body={}),
        Call("portal_consumer.supplier_search", "GET", "/portal/consumidor/fornecedores?q=Loja", consumer_only),
        Call("portal_consumer.cnpj_lookup", "GET", "/portal/consumidor/fornecedores/cnpj?cnpj=123",
             consumer_only),  # the answer says the CNPJ is invalid
        Call("portal_supplier.index", "GET", "/portal/fornecedor/", supplier_only),
        Call("portal_supplier.company", "GET", "/portal/fornecedor/empresa", supplier_only),
        Call("portal_supplier.fines", "GET", "/portal/fornecedor/multas", supplier_only),
        # X's company: its administrator only; an empty e-mail is refused with a message (422).
        Call("portal_supplier.invite", "POST", f"/portal/fornecedor/empresa/{i.company_x}/convites",
             only({"fornecedor_x": 422, "fornecedor_y": 404}, 403, **party_page), body={"email": ""}),
        Call("portal_supplier.remove", "POST",
             f"/portal/fornecedor/empresa/{i.company_x}/representantes/{i.account_x}/remover",
             only({"fornecedor_x": 403, "fornecedor_y": 404}, 403, **party_page), body={}),
        # Reaching the counter's cases: consumers only; an empty protocol or a wrong code is refused (422).
        Call("portal_identity.index", "GET", "/portal/consumidor/identidade/", consumer_only),
        Call("portal_identity.send_code", "POST", "/portal/consumidor/identidade/codigo",
             only({"consumidor_a": 422, "consumidor_b": 422}, 403, **party_page), body={}),
        Call("portal_identity.confirm_code", "POST", "/portal/consumidor/identidade/codigo/confirmar",
             only({"consumidor_a": 422, "consumidor_b": 422}, 403, **party_page), body={"protocolo": "X"}),
        # Proving a representation: one's own pending request only (Z's is nobody else's: 404).
        Call("portal_company.index", "GET", "/portal/fornecedor/comprovacao/", supplier_only),
        Call("portal_company.send_code", "POST", f"/portal/fornecedor/comprovacao/{i.pending_z}/codigo",
             only({"fornecedor_x": 404, "fornecedor_y": 404}, 403, **party_page), body={}),
        Call("portal_company.confirm_code", "POST", f"/portal/fornecedor/comprovacao/{i.pending_z}/codigo/confirmar",
             only({"fornecedor_x": 404, "fornecedor_y": 404}, 403, **party_page), body={"codigo": "123456"}),
        Call("portal_company.upload", "POST", f"/portal/fornecedor/comprovacao/{i.pending_z}/documentos",
             only({"fornecedor_x": 404, "fornecedor_y": 404}, 403, **party_page), body={"tipo": "procuracao"}),
        Call("portal_oidc.start_company", "GET", f"/portal/oidc/empresa/{i.pending_z}",
             only({"fornecedor_x": 404, "fornecedor_y": 404}, 403, **party_page)),
        Call("public.suppliers", "GET", "/publico/fornecedores?q=Empresa", public),
        Call("public.supplier", "GET", "/publico/fornecedores/12ABC34501DE35", public),
        Call("public.cadastro_page", "GET", "/publico/cadastro?ano=2026", public),
        # Staff pages: only staff, whatever portal session a browser holds.
        Call("documents.download", "GET", f"/documentos/{i.document_a}.pdf", only({"ana": 200}, LOGIN)),
        Call("verification.verify", "GET", "/documentos/verificar", public),
        Call("verification.verify", "GET", "/documentos/verificar/ABCD-1234-EFGH", public),
        Call("verification.verified_pdf", "GET", "/documentos/verificar/ABCD-1234-EFGH/documento.pdf", public),
    ]


def api_calls(i: Ids) -> list[Call]:
    v1 = "/api/v1"
    everyone = only({}, 200, anonimo=401)
    case_a = only({"consumidor_a": 200, "fornecedor_x": 200, "ana": 200}, 404, anonimo=401)
    task_a = {"fornecedor_x": 422, "ana": 422}
    return [
        Call("api-docs.openapi_json", "GET", f"{v1}/openapi.json", only({}, 200), api=True),
        Call("api_me.me", "GET", f"{v1}/me", everyone, api=True),
        Call("api_cases.list_cases", "GET", f"{v1}/cases", everyone, api=True),
        Call("api_cases.get_case", "GET", f"{v1}/cases/{i.case_a}", case_a, api=True),
        Call("api_cases.timeline", "GET", f"{v1}/cases/{i.case_a}/timeline", case_a, api=True),
        Call("api_cases.documents", "GET", f"{v1}/cases/{i.case_a}/documents", case_a, api=True),
        Call("api_documents.get_document", "GET", f"{v1}/documents/{i.document_a}", case_a, api=True),
        Call("api_tasks.list_tasks", "GET", f"{v1}/tasks", everyone, api=True),
        Call("api_tasks.get_task", "GET", f"{v1}/tasks/{i.task_a}",
             only({"fornecedor_x": 200, "ana": 200}, 404, anonimo=401), api=True),
        Call("api_tasks.complete", "POST", f"{v1}/tasks/{i.task_a}/complete", only(task_a, 404, anonimo=401),
             body={}, api=True),
        Call("api_tasks.claim", "POST", f"{v1}/tasks/{i.task_a}/claim",
             only({"fornecedor_x": 200, "ana": 409}, 404, anonimo=401), api=True),
        Call("api_tasks.release", "POST", f"{v1}/tasks/{i.task_a}/release",
             only({"fornecedor_x": 200, "ana": 403}, 404, anonimo=401), api=True),  # held by X: not ana's to give
        Call("api_complaints.create_complaint", "POST", f"{v1}/complaints",
             only({"consumidor_a": 422, "consumidor_b": 422, "ana": 422}, 403, anonimo=401), body={}, api=True),
        Call("api_tokens.list_tokens", "GET", f"{v1}/tokens", everyone, api=True),
        Call("api_tokens.create_token", "POST", f"{v1}/tokens", only({}, 422, anonimo=401), body={}, api=True),
        Call("api_public.verify_document", "GET", f"{v1}/public/documents/ABCD-1234-EFGH", only({}, 200), api=True),
        Call("api_public.supplier_complaints", "GET", f"{v1}/public/suppliers/12ABC34501DE35/complaints?year=2026",
             only({}, 200), api=True),
        # Last: A revokes A's own token (B may not).
        Call("api_tokens.delete_token", "DELETE", f"{v1}/tokens/{i.token_a}",
             only({"consumidor_a": 200}, 404, anonimo=401), api=True),
    ]


def expected(call: Call, caller: str) -> tuple[int, ...]:
    value = call.expect.get(caller, call.expect["*"])
    return value if isinstance(value, tuple) else (value,)


def web_client(world: World, caller: str) -> Any:
    """A browser signed in as ``caller``: a real server-side session, its id in the cookie."""
    client = world.client()
    if caller != "anonimo":
        kind, subject = (STAFF, world.ids["ana_user"]) if caller == "ana" else (PORTAL, world.ids[caller])
        with world.runtime.Session.begin() as session:
            token = open_session(session, kind, subject)
        with client.session_transaction() as cookie:
            cookie[COOKIE_KEYS[kind]] = token
    return client


def send(world: World, call: Call, caller: str) -> Any:
    if call.api:
        headers = {} if caller == "anonimo" else world.headers(caller)
        return world.client().open(call.url, method=call.method, headers=headers,
                                   json=call.body if call.method in ("POST", "PUT") else None)
    client = web_client(world, caller)
    body = {key: value.replace("{caller}", caller) if isinstance(value, str) else value
            for key, value in (call.body or {}).items()} if call.body is not None else None
    return client.open(call.url, method=call.method, data=body)


# For the API, the owner of an action goes last so that the others are refused on the untouched state
# (e.g. X's claim before the attendant's would turn the attendant's refusal into a different one).
ORDER: dict[str, Callable[[str], int]] = {
    "api_tasks.claim": lambda c: {"fornecedor_x": 1, "ana": 2}.get(c, 0),
    "api_tasks.release": lambda c: {"ana": 1, "fornecedor_x": 2}.get(c, 0),
    "api_tokens.delete_token": lambda c: 1 if c == "consumidor_a" else 0,
}


@pytest.fixture
def walked(runtime: Runtime) -> tuple[World, Ids, list[Call]]:
    world, ids = world_with_cases(runtime)
    world.app.config["WTF_CSRF_ENABLED"] = False  # this walk is about who may, not about CSRF (tested elsewhere)
    return world, ids, portal_calls(ids) + api_calls(ids)


def test_every_route_answers_each_caller_as_the_table_says(walked: tuple[World, Ids, list[Call]]) -> None:
    world, _ids, calls = walked
    wrong = []
    for call in calls:
        callers = sorted(CALLERS, key=ORDER.get(call.endpoint, lambda _c: 0))
        for caller in callers:
            response = send(world, call, caller)
            if response.status_code not in expected(call, caller):
                wrong.append(f"{call.method} {call.url} as {caller}: {response.status_code}, "
                             f"expected {expected(call, caller)}")
            if response.status_code == LOGIN and expected(call, caller) == (LOGIN,) and call.endpoint != \
                    "portal_auth.logout" and not call.endpoint.startswith("portal_auth"):
                assert "/entrar" in response.headers["Location"], (call.url, caller)
    assert not wrong, "\n".join(wrong)


def test_the_table_covers_every_portal_public_and_api_route(walked: tuple[World, Ids, list[Call]]) -> None:
    world, _ids, calls = walked
    covered = {(c.endpoint, c.method) for c in calls}
    routes = {(rule.endpoint, method) for rule in world.app.url_map.iter_rules()
              if rule.rule.startswith(("/portal", "/api/v1", "/publico", "/documentos"))
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - covered == set(), "routes with no row in the access table"


def test_lists_hold_only_the_callers_own_cases_and_tasks(walked: tuple[World, Ids, list[Call]]) -> None:
    world, ids, _calls = walked
    seen = {who: {c["id"] for c in world.get(who, "/api/v1/cases").json["items"]} for who in CALLERS[1:]}
    assert seen == {"consumidor_a": {ids.case_a}, "fornecedor_x": {ids.case_a}, "consumidor_b": {ids.case_b},
                    "fornecedor_y": {ids.case_b}, "ana": {ids.case_a, ids.case_b}}
    tasks = {who: {t["id"] for t in world.get(who, "/api/v1/tasks").json["items"]} for who in CALLERS[1:]}
    assert ids.task_a in tasks["fornecedor_x"]
    assert all(ids.task_a not in tasks[who] for who in ("consumidor_a", "consumidor_b", "fornecedor_y"))
    for who in ("consumidor_a", "consumidor_b", "fornecedor_x", "fornecedor_y"):
        page = web_client(world, who).get("/portal/consumidor/" if who.startswith("consumidor") else
                                          "/portal/fornecedor/").get_data(as_text=True)
        mine = ids.case_a if who in PARTIES_OF_A else ids.case_b
        other = ids.case_b if mine == ids.case_a else ids.case_a
        assert f"/portal/casos/{mine}" in page and f"/portal/casos/{other}" not in page, who
