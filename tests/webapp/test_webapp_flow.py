"""The complaint driven through the Flask app with CSRF on, as the agency's staff would."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.runtime import Runtime
from engine.store.models import Attachment, AuditEvent, Case, OpenTask
from tests.support.web_helpers import PASSWORD, csrf_token, login, post_form, task_links
from webapp import create_app
from webapp.users import create_user

STAFF = [("ana", "Ana Atendente", ["atendente"]), ("caio", "Caio Atendente", ["atendente"]),
         ("bia", "Bia Analista", ["analista"]), ("davi", "Davi Conciliador", ["conciliador"]),
         ("gil", "Gil Gestor", ["gestor"])]


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Flask]:
    with runtime.Session.begin() as session:
        for username, name, roles in STAFF:
            create_user(session, username, name, roles, PASSWORD)
    app = create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})
    yield app


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def register(client: FlaskClient, complaint: dict[str, str], **files: tuple[bytes, str]) -> tuple[int, str]:
    data: dict = dict(complaint)
    for name, (content, filename) in files.items():
        data[name] = (io.BytesIO(content), filename)
    response = post_form(client, "/reclamacoes/nova", data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.match(r"/casos/(\d+)/tarefas/([0-9a-f-]{36})", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1)), match.group(2)


def complete(client: FlaskClient, case_id: int, task_id: str, data: dict[str, str]):  # noqa: ANN201
    return post_form(client, f"/casos/{case_id}/tarefas/{task_id}", data)


def row_with(html: str, text: str) -> str:
    """The single table row (``<tr>...</tr>``) of ``html`` that contains ``text``."""
    rows = [row for row in re.findall(r"<tr[ >].*?</tr>", html, flags=re.S) if text in row]
    assert len(rows) == 1, (text, rows)
    return rows[0]


def queue_task(client: FlaskClient, title: str) -> tuple[int, str]:
    html = client.get("/tarefas").get_data(as_text=True)
    assert title in html, html
    return task_links(html)[0]


def test_attendant_takes_a_complaint_from_intake_to_closing(app: Flask, runtime: Runtime,
                                                             complaint: dict[str, str]) -> None:
    ana = client_for(app, "ana")
    case_id, task_id = register(ana, complaint, nota_fiscal=(b"%PDF-1.4 nota", "nota.pdf"))

    # The attendant lands on her next task, already assigned to her.
    page = ana.get(f"/casos/{case_id}/tarefas/{task_id}").get_data(as_text=True)
    assert "Atendimento preliminar" in page and "Maria" not in page and "João da Silva" in page
    response = complete(ana, case_id, task_id, {"resultado_preliminar": "nao_resolvida",
                                                "contato_descricao": "Liguei para o SAC, sem solução."})
    assert response.status_code == 302
    _, cip_task = re.match(r"/casos/(\d+)/tarefas/(.+)", response.headers["Location"]).groups()
    response = complete(ana, case_id, cip_task, {"cip_texto": "Solicitamos manifestação.",
                                                 "cip_email_fornecedor": "sac@loja.example"})
    # The CIP is answered by the supplier: the attendant is not sent to it, but finds it on the case page
    # and may register an answer that came by post on the supplier's behalf; a conciliator may not.
    assert response.headers["Location"] == f"/casos/{case_id}"
    [(_, answer_task)] = task_links(ana.get(f"/casos/{case_id}").get_data(as_text=True))
    page = ana.get(f"/casos/{case_id}/tarefas/{answer_task}").get_data(as_text=True)
    assert "Responder à CIP" in page and "consumidor_aceitou" not in page and "data_resposta" not in page
    assert client_for(app, "davi").get(f"/casos/{case_id}/tarefas/{answer_task}").status_code == 403
    response = complete(ana, case_id, answer_task, {"resposta_fornecedor": "Vamos trocar o produto.",
                                                    "proposta_acordo": ""})
    assert response.headers["Location"] == f"/casos/{case_id}"

    # The analyst finds it in her group queue, claims it and closes it.
    bia = client_for(app, "bia")
    queued_case, analysis_task = queue_task(bia, "Analisar reclamação")
    assert queued_case == case_id
    page = bia.get("/tarefas").get_data(as_text=True)
    bia.post(f"/casos/{case_id}/tarefas/{analysis_task}/assumir", data={"csrf_token": csrf_token(page)})
    assert "Analisar reclamação" in bia.get("/tarefas").get_data(as_text=True).split("Fila do grupo")[0]
    response = complete(bia, case_id, analysis_task, {"desfecho": "fundamentada_atendida",
                                                      "fundamentacao": "Fornecedor trocou o produto."})
    assert response.status_code == 302

    with runtime.Session() as session:
        case = session.get(Case, case_id)
        assert case.status == "encerrado" and case.outcome == "Encerrada: fundamentada atendida"
        assert session.scalar(select(func.count(OpenTask.id)).where(OpenTask.case_id == case_id)) == 0
        attachment = session.scalars(select(Attachment).where(Attachment.case_id == case_id)).one()

    # The case page shows the data, the timeline, the deadlines met and the diagram.
    html = ana.get(f"/casos/{case_id}").get_data(as_text=True)
    for text in ("Encerrada: fundamentada atendida", "João da Silva", "Loja Exemplo Ltda", "R$ 1.299,90",
                 "Tarefa concluída: Analisar reclamação", "bpmn-navigated-viewer.production.min.js", "nota.pdf"):
        assert text in html, text
    # The CIP's legal deadline (the unit's rule, with its legal basis) and each task's internal SLA,
    # all met on Monday 2 March; the CIP was due on Thursday 12 March, the preliminary contact on Monday 9.
    deadlines = html.split("<h2>Prazos</h2>")[1].split("</table>")[0]
    cip = row_with(deadlines, "Prazo de resposta à CIP")
    for text in ("prazo legal", "10 dias corridos", "CDC (Lei 8.078/1990), art. 55", "12/03/2026",
                 "cumprido em 02/03/2026"):
        assert text in cip, text
    prelim = row_with(deadlines, "Prazo interno: Atendimento preliminar")
    for text in ("prazo interno", "5 dias úteis", "09/03/2026", "cumprido em 02/03/2026"):
        assert text in prelim, text
    for name in ("Prazo interno: Emitir CIP ao fornecedor", "Prazo interno: Analisar reclamação"):
        assert "cumprido em 02/03/2026" in row_with(deadlines, name), name
    assert "com atraso" not in deadlines and "vencido" not in deadlines
    assert 'data-done="' in html and "analisar_reclamacao" in html
    download = ana.get(f"/anexos/{attachment.id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 nota"
    diagram = ana.get(f"/casos/{case_id}/diagrama.bpmn")
    assert diagram.status_code == 200 and b"bpmndi:BPMNDiagram" in diagram.data


def test_invalid_registration_shows_every_error_next_to_its_field_and_keeps_input(
        app: Flask, runtime: Runtime, complaint: dict[str, str]) -> None:
    ana = client_for(app, "ana")
    bad = dict(complaint, consumidor_cpf="123.456.789-00", fornecedor_cnpj="12.ABC.345/01DE-36",
               consumidor_email="joao-at-example", fatos="")
    response = post_form(ana, "/reclamacoes/nova", bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field, message in (("consumidor_cpf", "CPF inválido."), ("fornecedor_cnpj", "CNPJ inválido."),
                           ("consumidor_email", "E-mail inválido."), ("fatos", "Campo obrigatório.")):
        assert re.search(rf'id="campo-{field}-erro">{re.escape(message)}<', html), field
    assert 'value="123.456.789-00"' in html and 'value="joao-at-example"' in html
    assert "Comprei uma geladeira" not in html  # the emptied field stays empty
    assert 'value="Loja Exemplo Ltda"' in html  # valid fields keep what was typed too
    with runtime.Session() as session:
        assert session.scalar(select(func.count(Case.id))) == 0


def test_two_people_completing_the_same_task_one_wins_the_other_keeps_their_input(
        app: Flask, runtime: Runtime, complaint: dict[str, str]) -> None:
    ana = client_for(app, "ana")
    case_id, task_id = register(ana, complaint)
    ana.post(f"/casos/{case_id}/tarefas/{task_id}/liberar",
             data={"csrf_token": csrf_token(ana.get("/tarefas").get_data(as_text=True))})
    caio = client_for(app, "caio")
    # Both open the same queued task.
    url = f"/casos/{case_id}/tarefas/{task_id}"
    ana_token = csrf_token(ana.get(url).get_data(as_text=True))
    caio_token = csrf_token(caio.get(url).get_data(as_text=True))
    first = ana.post(url, data={"csrf_token": ana_token, "resultado_preliminar": "resolvida",
                                "contato_descricao": "Resolvido por telefone pela Ana."})
    assert first.status_code == 302
    second = caio.post(url, data={"csrf_token": caio_token, "resultado_preliminar": "nao_resolvida",
                                  "contato_descricao": "Texto longo que o Caio digitou."})
    html = second.get_data(as_text=True)
    assert second.status_code in (302, 409)
    if second.status_code == 302:  # the task left the projection: he is sent to the case page with a notice
        html = caio.get(second.headers["Location"]).get_data(as_text=True)
        assert "não está mais aberta" in html
    else:
        assert "Ana Atendente" in html and "Texto longo que o Caio digitou." in html
    with runtime.Session() as session:
        case = session.get(Case, case_id)
        assert case.outcome == "Encerrada: resolvida no atendimento preliminar"
        assert case.data["contato_descricao"] == "Resolvido por telefone pela Ana."
        done = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                        AuditEvent.action == "tarefa_concluida")).all()
        assert [e.actor for e in done] == ["ana", "ana"]


def test_csrf_missing_is_refused_with_a_clear_page(app: Flask, complaint: dict[str, str]) -> None:
    ana = client_for(app, "ana")
    response = ana.post("/reclamacoes/nova", data=complaint)
    assert response.status_code == 400
    assert "Formulário expirado" in response.get_data(as_text=True)


def test_login_is_required_and_wrong_password_is_refused(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/tarefas").headers["Location"].startswith("/entrar")
    response = login(client, "ana", "errada")
    assert response.status_code == 401 and "Usuário ou senha incorretos." in response.get_data(as_text=True)
    assert client.get("/tarefas").status_code == 302


def test_roles_limit_what_each_person_can_do(app: Flask, complaint: dict[str, str]) -> None:
    bia = client_for(app, "bia")
    assert bia.get("/reclamacoes/nova").status_code == 403
    ana = client_for(app, "ana")
    case_id, task_id = register(ana, complaint)
    assert bia.get(f"/casos/{case_id}/tarefas/{task_id}").status_code == 403
    # Someone else's claimed task cannot be completed by a colleague with the same role.
    caio = client_for(app, "caio")
    page = caio.get(f"/casos/{case_id}/tarefas/{task_id}").get_data(as_text=True)
    assert "Esta tarefa está com ana" in page
    response = caio.post(f"/casos/{case_id}/tarefas/{task_id}",
                         data={"csrf_token": csrf_token(page), "resultado_preliminar": "resolvida",
                               "contato_descricao": "x"})
    assert response.status_code == 403 and "Peça para liberá-la" in response.get_data(as_text=True)


def test_queue_lists_due_dates_first_and_marks_overdue(app: Flask, runtime: Runtime, frozen_clock,  # noqa: ANN001
                                                       complaint: dict[str, str]) -> None:
    import datetime as dt

    from engine.actors import Actor

    # Monday 2 March 2026, 10:00 in São Paulo.
    ana = client_for(app, "ana")
    case_id, task_id = register(ana, complaint)
    for data in ({"resultado_preliminar": "nao_resolvida", "contato_descricao": "sem acordo"},
                 {"cip_texto": "Manifeste-se.", "cip_email_fornecedor": "sac@loja.example"}):
        response = complete(ana, case_id, task_id, data)
        task_id = response.headers["Location"].rsplit("/", 1)[1]
    other_case, other_task = register(ana, dict(complaint, consumidor_nome="Outra Pessoa"))
    ana.post(f"/casos/{other_case}/tarefas/{other_task}/liberar",
             data={"csrf_token": csrf_token(ana.get("/tarefas").get_data(as_text=True))})
    # A case opened without its form: its first task has no deadline at all.
    runtime.start_case("reclamacao", Actor("ana", "Ana Atendente", frozenset({"atendente"})), None)

    html = ana.get("/tarefas").get_data(as_text=True)
    queue = html.split("Fila do grupo")[1]
    # Earliest first: the preliminary contact's SLA (5 working days: Monday 9 March), then the CIP
    # answer (10 calendar days: Thursday 12 March; the supplier's, which attendants may register for it),
    # then the task without a deadline.
    assert (queue.index("Atendimento preliminar") < queue.index("Responder à CIP")
            < queue.index("Registrar reclamação"))
    assert "09/03/2026 · 7 dias restantes" in row_with(queue, "Atendimento preliminar")
    assert "12/03/2026 · 10 dias restantes" in row_with(queue, "Responder à CIP")
    assert "sem prazo" in row_with(queue, "Registrar reclamação")
    assert "prazo-vencido" not in html and "linha-vencida" not in html

    # Thursday 12 March, 11:00 in São Paulo: the SLA is 3 days overdue; the CIP ends only tonight.
    frozen_clock.advance(dt.timedelta(days=10, hours=1))
    queue = ana.get("/tarefas").get_data(as_text=True).split("Fila do grupo")[1]
    prelim = row_with(queue, "Atendimento preliminar")
    assert "linha-vencida" in prelim and "prazo-vencido" in prelim and "vencido há 3 dias" in prelim
    answer = row_with(queue, "Responder à CIP")
    assert "vence hoje" in answer and "linha-vencida" not in answer and "prazo-vencido" not in answer

    # Right after the end of that day (00:00 on Friday 13 March in São Paulo) it is overdue too.
    frozen_clock.set(dt.datetime(2026, 3, 13, 3, 0, 0, tzinfo=dt.UTC))
    queue = ana.get("/tarefas").get_data(as_text=True).split("Fila do grupo")[1]
    answer = row_with(queue, "Responder à CIP")
    assert "linha-vencida" in answer and "prazo-vencido" in answer and "vencido há 1 dia" in answer
    assert "linha-vencida" not in row_with(queue, "Registrar reclamação")


def test_task_forms_come_filled_with_what_the_case_already_knows(runtime: Runtime,
                                                                 complaint: dict[str, str]) -> None:
    from engine.forms.submission import validate_submission
    from webapp.staff.inbox import prefilled

    form = runtime.forms.get("registro_reclamacao")
    cleaned = validate_submission(form, complaint).data
    values = prefilled(form, cleaned)
    assert "canal" not in values  # choices are left for the person to make
    assert values["valor"] == "1299,90" and values["fornecedor_cnpj"] == "12.ABC.345/01DE-35"
    # What is pre-filled validates back to exactly what the case holds.
    again = validate_submission(form, {**values, "canal": cleaned["canal"]}).data
    assert {k: again[k] for k in values} == {k: cleaned[k] for k in values}
