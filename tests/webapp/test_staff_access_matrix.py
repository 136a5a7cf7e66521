"""Every staff route — pages and the JSON API — walked as every staff role of the case's unit, of another
unit and of the state level (issue 13, finding 4).

Units CAP (the capital) and STS (Santos). Case A is a complaint of CAP waiting for the attendant's
preliminary contact, with an invoice and an official document; case B is Santos's. Callers: each staff
role in CAP (``atendente_cap``…) and in STS (``atendente_sts``…), the state level (``admin`` and
``gestor_estadual``, both of STS: they reach CAP's case anyway) and nobody signed in. Each route is
called with case A's ids, and each caller must get exactly the answer the table says: a case of
another unit is *not found* (404, the same as a case that does not exist), a page of the case's unit
that the person's role does not allow is forbidden (403), nobody signed in is sent to the login
(302) or gets 401 from the API. A staff route missing from the table fails the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.calendar.service import ensure_default_unit
from engine.forms.submission import UploadedFile
from engine.parties.accounts import issue_token
from engine.runtime import Runtime
from engine.store.login_sessions import STAFF, open_session
from engine.store.models import Attachment, Notification, OpenTask, User
from tests.support.web_helpers import PASSWORD
from tests.webapp.test_api import ALL_SCOPES, CNPJ_Y, CPF_B, add_document
from webapp import create_app
from webapp.sign_in import COOKIE_KEYS
from webapp.users import actor_for, create_user

UNIT_ROLES = ("atendente", "analista", "conciliador", "fiscal", "autoridade", "gestor", "analista_processos")
STATE = ("admin", "gestor_estadual")
CALLERS = ("anonimo", *(f"{r}_cap" for r in UNIT_ROLES), *(f"{r}_sts" for r in UNIT_ROLES), *STATE)
LOGIN = 302
#: Who reaches case A: a role that works on cases, in CAP, or the state level.
SEES_A = frozenset({f"{r}_cap" for r in UNIT_ROLES if r != "analista_processos"} | set(STATE))
MANAGERS = frozenset({"gestor_cap", "gestor_sts", *STATE})
MODELERS = frozenset({"analista_processos_cap", "analista_processos_sts", "admin"})
ATTENDANTS = frozenset({"atendente_cap", "atendente_sts", "admin"})

Expect = dict[str, int | tuple[int, ...]]


def only(allowed: dict[str, int], others: int, **fixed: int) -> Expect:
    """``allowed`` callers get their answer, ``fixed`` ones theirs, everyone else ``others``; nobody signed
    in is sent to the login page unless ``fixed`` says otherwise."""
    return {"anonimo": LOGIN, **allowed, **fixed, "*": others}


def case_a(ok: int = 200, wrong_role: int | None = None, allowed: frozenset[str] = SEES_A) -> Expect:
    """Case A's answer: ``ok`` for ``allowed``; ``wrong_role`` for the rest of who sees the case; 404 otherwise."""
    expect: Expect = {"anonimo": LOGIN, "*": 404}
    if wrong_role is not None:
        expect.update({caller: wrong_role for caller in SEES_A})
    expect.update({caller: ok for caller in allowed})
    return expect


def api(expect: Expect) -> Expect:
    return {**expect, "anonimo": 401}


@dataclass(frozen=True)
class Call:
    endpoint: str
    method: str
    url: str
    expect: Expect
    body: dict[str, Any] | None = None
    api: bool = False


@dataclass
class World:
    app: Flask
    runtime: Runtime
    users: dict[str, int]
    tokens: dict[str, str]
    case_a: int
    case_b: int
    task_a: str
    document_a: int
    attachment_a: int
    notice: int


def world_for(runtime: Runtime, complaint: dict[str, str]) -> World:
    app = create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": False})
    with runtime.Session.begin() as session:
        ensure_default_unit(session, code="STS", name="Procon Santos", state="SP", municipality="Santos")
    users, tokens = {}, {}
    with runtime.Session.begin() as session:
        for caller in CALLERS[1:]:
            if caller in STATE:
                role, unit = caller, "STS"
            else:
                role, _, unit = caller.rpartition("_")
            user = create_user(session, caller, f"Pessoa {caller}", [role], PASSWORD, unit=unit.upper())
            users[caller] = user.id
            tokens[caller] = issue_token(session, name="teste", scopes=ALL_SCOPES, user_id=user.id).secret
    with runtime.Session() as session:
        actors = {caller: actor_for(session.get(User, users[caller])) for caller in ("atendente_cap", "atendente_sts")}
    invoice = UploadedFile("nota.pdf", "application/pdf", b"%PDF-1.4\n% nota fiscal\n")
    a = runtime.start_case("reclamacao", actors["atendente_cap"], complaint, {"nota_fiscal": invoice})
    b = runtime.start_case("reclamacao", actors["atendente_sts"], dict(
        complaint, consumidor_nome="Paulo Costa", consumidor_cpf=CPF_B, fornecedor_cnpj=CNPJ_Y))
    with runtime.Session.begin() as session:
        task_a = session.scalars(select(OpenTask.task_id).where(OpenTask.case_id == a.case_id)).one()
        attachment_a = session.scalars(select(Attachment.id).where(Attachment.case_id == a.case_id)).one()
        notice = Notification(case_id=a.case_id, role="atendente", unit="CAP", kind="aviso_prazo",
                              message="O atendimento preliminar vence amanhã.")
        session.add(notice)
        session.flush()
        notice_id = notice.id
    world = World(app, runtime, users, tokens, a.case_id, b.case_id, task_a, 0, attachment_a, notice_id)
    world.document_a = add_document(world, a.case_id, "ABCD-1234-EFGH")  # type: ignore[arg-type]
    return world


def page_calls(w: World) -> list[Call]:
    case, task = f"/casos/{w.case_a}", f"/casos/{w.case_a}/tarefas/{w.task_a}"
    staff = only({}, 200)
    managers = only({c: 200 for c in MANAGERS}, 403)
    managers_post = only({c: 302 for c in MANAGERS}, 403)
    admin_get = only({"admin": 200}, 403)
    admin_post = only({"admin": 302}, 403)
    modelers = only({c: 200 for c in MODELERS}, 403)
    modelers_404 = only({c: 404 for c in MODELERS}, 403)
    modelers_post = only({c: 302 for c in MODELERS}, 403)
    draft = "/processos/rascunhos/999999"
    forms = "/processos/formularios"
    return [
        Call("auth.login", "GET", "/entrar", only({}, 200, anonimo=200)),
        # each caller types its own wrong login: five failures on one login would (rightly) answer 429
        Call("auth.login", "POST", "/entrar", only({}, 401, anonimo=401),
             body={"username": "x-{caller}", "password": "y"}),
        Call("inbox.index", "GET", "/", only({}, 302)),
        Call("inbox.tasks", "GET", "/tarefas", staff),
        Call("inbox.mark_read", "POST", f"/avisos/{w.notice}/lido", only({"atendente_cap": 302}, 404)),
        Call("cases.case_list", "GET", "/casos",
             only({c: 200 for c in CALLERS[1:] if not c.startswith("analista_processos")}, 403)),
        Call("cases.new_complaint", "GET", "/reclamacoes/nova", only({c: 200 for c in ATTENDANTS}, 403)),
        Call("cases.new_complaint", "POST", "/reclamacoes/nova", only({c: 422 for c in ATTENDANTS}, 403), body={}),
        # Case A: its unit's staff and the state level; for everyone else it does not exist.
        Call("cases.case_page", "GET", case, case_a()),
        Call("cases.case_diagram", "GET", f"{case}/diagrama.bpmn", case_a()),
        Call("cases.attachment", "GET", f"/anexos/{w.attachment_a}", case_a()),
        Call("documents.download", "GET", f"/documentos/{w.document_a}.pdf", case_a()),
        # Transfer: the unit's manager or the state level (an empty form: 422, with the fields' messages).
        Call("cases.transfer", "POST", f"{case}/transferir",
             case_a(422, 403, frozenset({"gestor_cap", *STATE})), body={}),
        # The attendant's task: the attendant (or an admin); the unit's other roles may not (403).
        Call("inbox.task_page", "GET", task, case_a(200, 403, frozenset({"atendente_cap", "admin"}))),
        Call("inbox.task_page", "POST", task, case_a(422, 403, frozenset({"atendente_cap", "admin"})), body={}),
        Call("inbox.claim", "POST", f"{task}/assumir", case_a(302, 403, frozenset({"atendente_cap", "admin"}))),
        # held by the attendant: she, a manager of the unit or the state level gives it back
        Call("inbox.release", "POST", f"{task}/liberar",
             case_a(302, 403, frozenset({"atendente_cap", "gestor_cap", *STATE}))),
        Call("dashboard.index", "GET", "/painel/", managers),
        Call("dashboard.diagram", "GET", "/painel/diagrama/reclamacao.xml", managers),
        Call("dashboard.step", "GET", "/painel/etapa?processo=reclamacao&elemento=atendimento_preliminar", managers),
        Call("dashboard.export", "GET", "/painel/exportar.csv?lista=atrasados", managers),
        Call("dashboard.reassign", "POST", "/painel/redistribuir", managers_post, body={}),
        Call("dashboard.assign", "POST", "/painel/atribuir", managers_post, body={}),
        Call("incidents.index", "GET", "/admin/incidentes/", admin_get),
        Call("incidents.retry", "POST", "/admin/incidentes/999999/reprocessar", admin_post),
        Call("calendar_admin.index", "GET", "/admin/calendario/", admin_get),
        Call("calendar_admin.set_rule", "POST", "/admin/calendario/prazos", admin_post, body={}),
        Call("calendar_admin.add_entry", "POST", "/admin/calendario/registros", admin_post, body={}),
        Call("calendar_admin.deactivate_entry", "POST", "/admin/calendario/registros/999999/desativar", admin_post),
        Call("lgpd.accesses", "GET", "/admin/lgpd/acessos", admin_get),
        Call("lgpd.subject", "GET", "/admin/lgpd/titular", admin_get),
        Call("lgpd.subject", "POST", "/admin/lgpd/titular", only({"admin": 422}, 403), body={"cpf": "123"}),
        # Empresas (representation requests): the state level only; Contas do portal: attendants of any unit
        # (a consumer's identity is not a unit's); unknown ids are 404 for those who may use the page.
        Call("companies.index", "GET", "/empresas/", only({c: 200 for c in STATE}, 403)),
        Call("companies.review", "GET", "/empresas/999999", only({c: 404 for c in STATE}, 403)),
        Call("companies.document", "GET", "/empresas/999999/documentos/1", only({c: 404 for c in STATE}, 403)),
        Call("companies.approve_request", "POST", "/empresas/999999/aprovar", only({c: 404 for c in STATE}, 403),
             body={"nome_publico": "X"}),
        Call("companies.refuse_request", "POST", "/empresas/999999/recusar", only({c: 404 for c in STATE}, 403),
             body={"motivo": "Motivo qualquer"}),
        Call("party_identity.index", "GET", "/contas-portal/", only({c: 200 for c in ATTENDANTS}, 403)),
        Call("party_identity.confirm", "POST", "/contas-portal/999999/confirmar",
             only({c: 404 for c in ATTENDANTS}, 403), body={"conferido": "sim", "documento": "RG 1234567"}),
        Call("party_identity.resolve", "POST", "/contas-portal/divergencias/999999",
             only({c: 404 for c in ATTENDANTS}, 403), body={"resolucao": "vincular"}),
        # Empresas (a CNPJ is the whole state's): the state level reviews; invented requests are not found.
        Call("companies.index", "GET", "/empresas/", only({c: 200 for c in STATE}, 403)),
        Call("companies.review", "GET", "/empresas/999999", only({c: 404 for c in STATE}, 403)),
        Call("companies.document", "GET", "/empresas/999999/documentos/1", only({c: 404 for c in STATE}, 403)),
        Call("companies.approve_request", "POST", "/empresas/999999/aprovar", only({c: 404 for c in STATE}, 403),
             body={}),
        Call("companies.refuse_request", "POST", "/empresas/999999/recusar", only({c: 404 for c in STATE}, 403),
             body={}),
        # Contas do portal (identity confirmed in person): attendants; an unticked check is refused (422).
        Call("party_identity.index", "GET", "/contas-portal/", only({c: 200 for c in ATTENDANTS}, 403)),
        Call("party_identity.confirm", "POST", "/contas-portal/999999/confirmar",
             only({c: 422 for c in ATTENDANTS}, 403), body={}),
        Call("party_identity.resolve", "POST", "/contas-portal/divergencias/999999",
             only({c: 404 for c in ATTENDANTS}, 403), body={}),  # an invented divergence
        # Processos and Formulários: process analysts of any unit (no case data there) and the admin.
        Call("processes.index", "GET", "/processos/", modelers),
        # one version deployed: nothing to compare or migrate to, back to the catalogue with a message
        Call("processes.compare", "GET", "/processos/reclamacao/comparar", modelers_post),
        Call("processes.version_xml", "GET", "/processos/reclamacao/versoes/1/diagrama", modelers),
        Call("processes.download_version", "GET", "/processos/reclamacao/versoes/1/baixar", modelers),
        Call("processes.migrate", "GET", "/processos/reclamacao/versoes/1/migrar", modelers_post),
        Call("processes.migrate", "POST", "/processos/reclamacao/versoes/1/migrar", modelers_post, body={}),
        Call("processes.edit", "POST", "/processos/processo-inexistente/editar", modelers_post),
        Call("processes.upload", "POST", "/processos/enviar", modelers_post, body={}),
        Call("processes.rollback", "POST", "/processos/reclamacao/reverter", modelers_post, body={}),
        Call("processes.modeler", "GET", draft, modelers_404),
        Call("processes.draft_xml", "GET", f"{draft}/xml", modelers_404),
        Call("processes.download_draft", "GET", f"{draft}/baixar", modelers_404),
        Call("processes.draft_diagram", "GET", f"{draft}/diagrama", modelers_404),
        Call("processes.compare_draft", "GET", f"{draft}/comparar", modelers_404),
        Call("processes.save", "POST", f"{draft}/salvar", modelers_404, body={}),
        Call("processes.validate", "POST", f"{draft}/validar", modelers_404, body={}),
        Call("processes.deploy", "POST", f"{draft}/implantar", modelers_404, body={}),
        Call("processes.discard", "POST", f"{draft}/descartar", modelers_post),
        Call("sandbox.page", "GET", f"{draft}/testar", modelers_404),
        Call("sandbox.page", "POST", f"{draft}/testar", modelers_404, body={}),
        Call("sandbox.diagram", "GET", f"{draft}/testar/diagrama.bpmn", modelers_404),
        Call("sandbox.advance", "POST", f"{draft}/testar/relogio", modelers_404, body={}),
        Call("sandbox.service", "POST", f"{draft}/testar/servicos/1/concluir", modelers_404, body={}),
        Call("sandbox.reset", "POST", f"{draft}/testar/reiniciar", modelers_404),
        Call("sandbox.discard", "POST", f"{draft}/testar/descartar", modelers_post),
        Call("form_editor.index", "GET", f"{forms}/", modelers),
        Call("form_editor.history", "GET", f"{forms}/registro_reclamacao", modelers),
        Call("form_editor.new_form", "POST", f"{forms}/novo", modelers_post, body={}),
        Call("form_editor.edit", "POST", f"{forms}/formulario-inexistente/editar", modelers_post),
        Call("form_editor.revert", "POST", f"{forms}/registro_reclamacao/reverter", modelers_post, body={}),
        Call("form_editor.preview", "POST", f"{forms}/previa", only({c: 400 for c in MODELERS}, 403), body={}),
        Call("form_editor.editor", "GET", f"{forms}/rascunhos/999999", modelers_404),
        Call("form_editor.save", "POST", f"{forms}/rascunhos/999999/salvar", only({c: 400 for c in MODELERS}, 403),
             body={}),  # nothing to save: 400 before the draft is looked up
        Call("form_editor.validate", "POST", f"{forms}/rascunhos/999999/validar", modelers_404, body={}),
        Call("form_editor.publish", "POST", f"{forms}/rascunhos/999999/publicar", modelers_404, body={}),
        Call("form_editor.discard", "POST", f"{forms}/rascunhos/999999/descartar", modelers_post),
        Call("auth.logout", "POST", "/sair", only({}, 302, anonimo=302)),
    ]


def api_calls(w: World) -> list[Call]:
    v1 = "/api/v1"
    everyone = api(only({}, 200))
    attendant_task = frozenset({"atendente_cap", "admin"})
    return [
        Call("api-docs.openapi_json", "GET", f"{v1}/openapi.json", only({}, 200, anonimo=200), api=True),
        Call("api_me.me", "GET", f"{v1}/me", everyone, api=True),
        Call("api_cases.list_cases", "GET", f"{v1}/cases", everyone, api=True),
        Call("api_cases.get_case", "GET", f"{v1}/cases/{w.case_a}", api(case_a()), api=True),
        Call("api_cases.timeline", "GET", f"{v1}/cases/{w.case_a}/timeline", api(case_a()), api=True),
        Call("api_cases.documents", "GET", f"{v1}/cases/{w.case_a}/documents", api(case_a()), api=True),
        Call("api_documents.get_document", "GET", f"{v1}/documents/{w.document_a}", api(case_a()), api=True),
        Call("api_tasks.list_tasks", "GET", f"{v1}/tasks", everyone, api=True),
        Call("api_tasks.get_task", "GET", f"{v1}/tasks/{w.task_a}", api(case_a(200, 403, attendant_task)), api=True),
        Call("api_tasks.complete", "POST", f"{v1}/tasks/{w.task_a}/complete",
             api(case_a(422, 403, attendant_task)), body={}, api=True),
        # the attendant claims first; the admin then finds it taken (409)
        Call("api_tasks.claim", "POST", f"{v1}/tasks/{w.task_a}/claim",
             api(case_a(200, 403, attendant_task) | {"admin": 409}), api=True),
        Call("api_tasks.release", "POST", f"{v1}/tasks/{w.task_a}/release",
             api(case_a(200, 403, attendant_task)), api=True),
        # attendants, and conciliators (who may register a consumer's part on the consumer's behalf)
        Call("api_complaints.create_complaint", "POST", f"{v1}/complaints",
             api(only({c: 422 for c in ATTENDANTS | {"conciliador_cap", "conciliador_sts"}}, 403)), body={},
             api=True),
        Call("api_tokens.list_tokens", "GET", f"{v1}/tokens", everyone, api=True),
        Call("api_tokens.create_token", "POST", f"{v1}/tokens", api(only({}, 422)), body={}, api=True),
        Call("api_tokens.delete_token", "DELETE", f"{v1}/tokens/999999", api(only({}, 404)), api=True),
        Call("api_public.verify_document", "GET", f"{v1}/public/documents/ABCD-1234-EFGH",
             only({}, 200, anonimo=200), api=True),
        Call("api_public.supplier_complaints", "GET", f"{v1}/public/suppliers/12ABC34501DE35/complaints?year=2026",
             only({}, 200, anonimo=200), api=True),
    ]


def expected(call: Call, caller: str) -> tuple[int, ...]:
    value = call.expect.get(caller, call.expect["*"])
    return value if isinstance(value, tuple) else (value,)


def send(world: World, call: Call, caller: str) -> Any:
    client = world.app.test_client()
    if call.api:
        headers = {} if caller == "anonimo" else {"Authorization": f"Bearer {world.tokens[caller]}"}
        return client.open(call.url, method=call.method, headers=headers,
                           json=call.body if call.method in ("POST", "PUT") else None)
    if caller != "anonimo":
        with world.runtime.Session.begin() as session:
            token = open_session(session, STAFF, world.users[caller])
        with client.session_transaction() as cookie:
            cookie[COOKIE_KEYS[STAFF]] = token
    body = {key: value.replace("{caller}", caller) for key, value in call.body.items()} \
        if call.body is not None else None
    return client.open(call.url, method=call.method, data=body)


#: The owner of an action goes after the callers it refuses (so they meet the untouched state), and
#: the attendant claims before the admin (who then finds the task taken).
ORDER: dict[str, Callable[[str], int]] = {
    "inbox.claim": lambda c: {"atendente_cap": 1, "admin": 2}.get(c, 0),
    "inbox.release": lambda c: 1 if c in ("atendente_cap", "gestor_cap", *STATE) else 0,
    "inbox.mark_read": lambda c: 1 if c == "atendente_cap" else 0,
    "api_tasks.claim": lambda c: {"atendente_cap": 1, "admin": 2}.get(c, 0),
    "api_tasks.release": lambda c: 1 if c in ("atendente_cap", "admin") else 0,
}


@pytest.fixture
def walked(runtime: Runtime, complaint: dict[str, str]) -> tuple[World, list[Call]]:
    world = world_for(runtime, complaint)
    return world, page_calls(world) + api_calls(world)


def test_every_staff_route_answers_each_role_and_unit_as_the_table_says(walked: tuple[World, list[Call]]) -> None:
    world, calls = walked
    wrong = []
    for call in calls:
        for caller in sorted(CALLERS, key=ORDER.get(call.endpoint, lambda _c: 0)):
            response = send(world, call, caller)
            if response.status_code not in expected(call, caller):
                wrong.append(f"{call.method} {call.url} as {caller}: {response.status_code}, "
                             f"expected {expected(call, caller)}")
            elif caller == "anonimo" and response.status_code == LOGIN and call.endpoint != "auth.logout":
                assert "/entrar" in response.headers["Location"], call.url
    assert not wrong, "\n".join(wrong)


def test_the_table_covers_every_staff_and_api_route(walked: tuple[World, list[Call]]) -> None:
    world, calls = walked
    covered = {(c.endpoint, c.method) for c in calls}
    others = ("/portal", "/publico", "/documentos/verificar", "/static")  # tests/webapp/test_access_matrix.py
    routes = {(rule.endpoint, method) for rule in world.app.url_map.iter_rules()
              if not rule.rule.startswith(others) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - covered == set(), "staff routes with no row in the access table"


def test_lists_hold_only_the_units_cases_and_tasks(walked: tuple[World, list[Call]]) -> None:
    world, _calls = walked
    a, b = world.case_a, world.case_b

    def page(caller: str, url: str) -> str:
        response = send(world, Call("", "GET", url, {}), caller)
        assert response.status_code == 200, (caller, url)
        return response.get_data(as_text=True)

    for caller, mine, other in (("atendente_cap", a, b), ("atendente_sts", b, a)):
        assert f"/casos/{mine}\"" in page(caller, "/casos") and f"/casos/{other}\"" not in page(caller, "/casos")
        queue = page(caller, "/tarefas")
        assert f"/casos/{mine}/tarefas/" in queue and f"/casos/{other}/tarefas/" not in queue
        api_cases = send(world, Call("", "GET", "/api/v1/cases", {}, api=True), caller).json
        assert [c["id"] for c in api_cases["items"]] == [mine]
        api_tasks = send(world, Call("", "GET", "/api/v1/tasks", {}, api=True), caller).json
        assert {t["case_id"] for t in api_tasks["items"]} == {mine}
    for caller in STATE:
        listed = page(caller, "/casos")
        assert f"/casos/{a}\"" in listed and f"/casos/{b}\"" in listed
        ids = {c["id"] for c in send(world, Call("", "GET", "/api/v1/cases", {}, api=True), caller).json["items"]}
        assert ids == {a, b}
    # a process analyst works on diagrams, not on cases: no case in the API either
    assert send(world, Call("", "GET", "/api/v1/cases", {}, api=True), "analista_processos_cap").json["items"] == []
    # the Painel of a unit's manager lists that unit only; the state level may choose
    waiting = page("gestor_sts", "/painel/etapa?processo=reclamacao&elemento=atendimento_preliminar")
    assert "STS-2026-000001" in waiting and "CAP-2026-000001" not in waiting
    waiting = page("gestor_estadual", "/painel/etapa?processo=reclamacao&elemento=atendimento_preliminar")
    assert "STS-2026-000001" in waiting and "CAP-2026-000001" in waiting
