"""The "Painel" (webapp/dashboard.py) through the Flask app with CSRF on, over the known data set of
:mod:`tests.engine.test_dashboard_queries` (five complaints in CAP and STS, read on Thursday 02/04/2026)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.dashboard import live
from engine.dashboard.compliance import compliance
from engine.dashboard.compliance import trend as compliance_trend
from engine.dashboard.live import now_lists
from engine.dashboard.periods import GROUPS, Filters
from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, OpenTask
from tests.engine.test_dashboard_queries import dataset  # noqa: F401 - the known data set (fixture)
from tests.support.web_helpers import PASSWORD, csrf_token, login
from webapp import create_app
from webapp.users import create_user

STAFF = [("ana", "Ana Atendente", ["atendente"], "CAP"), ("caio", "Caio Atendente", ["atendente"], "CAP"),
         ("bia", "Bia Analista", ["analista"], "CAP"), ("davi", "Davi Conciliador", ["conciliador"], "CAP"),
         ("gil", "Gil Gestor", ["gestor"], "CAP"), ("sara", "Sara Gestora", ["gestor"], "STS"),
         ("root", "Rute Admin", ["admin"], "CAP")]

Data = dict[str, CaseResult]


@pytest.fixture
def app(runtime: Runtime, dataset: Data) -> Flask:  # noqa: F811
    with runtime.Session.begin() as session:
        for username, name, roles, unit in STAFF:
            create_user(session, username, name, roles, PASSWORD, unit=unit)
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def table(html: str, table_id: str) -> list[list[str]]:
    """The body cells (tags stripped) of the table with ``table_id``."""
    match = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, flags=re.S)
    if match is None:
        return []
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), flags=re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
            for row in rows]


def read_csv(client: FlaskClient, query: str) -> list[list[str]]:
    response = client.get(f"/painel/exportar.csv?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%".replace(".", ",")


def test_non_managers_get_403(app: Flask) -> None:
    ana = client_for(app, "ana")
    for url in ("/painel/", "/painel/exportar.csv?lista=atrasados", "/painel/etapa?processo=reclamacao&elemento=x",
                "/painel/diagrama/reclamacao.xml"):
        assert ana.get(url).status_code == 403, url
    token = csrf_token(page(ana, "/tarefas"))
    assert ana.post("/painel/redistribuir", data={"csrf_token": token, "tarefa": "1:x"}).status_code == 403
    assert "/painel/" not in page(ana, "/tarefas")
    assert 'href="/painel/"' in page(client_for(app, "gil"), "/tarefas")
    assert app.test_client().get("/painel/").status_code == 302  # anonymous: to the login page


@pytest.mark.parametrize("group", GROUPS)
def test_numbers_match_the_engine(app: Flask, runtime: Runtime, group: str) -> None:
    html = page(client_for(app, "root"), f"/painel/?agrupar={group}")
    with runtime.Session() as session:
        rows = compliance(session, Filters(), group)
        trend = compliance_trend(session, Filters())
    assert table(html, "tabela-conformidade") == [
        [r.rotulo, str(r.no_prazo), str(r.com_atraso), str(r.vencidos), str(r.pendentes), str(r.cancelados),
         str(r.encerrados), pct(r.taxa_no_prazo)] for r in rows]
    assert table(html, "tabela-tendencia") == [[p.rotulo, str(p.encerrados), str(p.no_prazo), pct(p.taxa_no_prazo)]
                                               for p in trend]
    assert "grafico-conformidade" in html and "chart.umd.min.js" in html


def test_known_numbers_by_step(app: Flask) -> None:
    html = page(client_for(app, "root"), "/painel/?agrupar=etapa")
    [prelim] = [row[1:5] for row in table(html, "tabela-conformidade") if "preliminar" in row[0].lower()]
    assert prelim == ["2", "1", "0", "2"]
    assert table(html, "tabela-tendencia")[0] == ["03/2026", "7", "4", "57,1%"]


def test_unit_manager_never_sees_another_unit(app: Flask, dataset: Data) -> None:  # noqa: F811
    sts = [dataset["C"].protocol, dataset["D"].protocol]
    cap = [dataset["A"].protocol, dataset["B"].protocol, dataset["E"].protocol]
    gil = client_for(app, "gil")
    for url in ("/painel/", "/painel/?unidade=STS", "/painel/?agrupar=unidade&unidade=STS",
                "/painel/?agrupar=pessoa"):
        html = page(gil, url)
        assert not any(p in html for p in sts), url
        assert "Procon Santos" not in html and 'name="unidade"' not in html
    html = page(gil, "/painel/?agrupar=unidade&unidade=STS&processo=reclamacao")
    assert [r[0] for r in table(html, "tabela-conformidade")] == ["Procon Capital"]
    assert [r[0] for r in table(html, "tabela-espera")] == ["Analisar reclamação", "Atendimento preliminar"]
    assert [r[1:] for r in table(html, "tabela-espera")] == [["2", "0"], ["1", "1"]]
    assert [r[1] for r in table(html, "lista-atrasados")] == [dataset["E"].protocol]
    assert [r[0] for r in table(html, "tabela-backlog")] == ["03/2026"]
    assert table(html, "tabela-backlog")[0][1:] == ["3", "0"]
    step = page(gil, "/painel/etapa?processo=reclamacao&elemento=atendimento_preliminar&unidade=STS")
    assert dataset["E"].protocol in step and dataset["D"].protocol not in step
    for lista in ("conformidade", "tendencia", "atrasados", "hoje", "proximos", "tempos", "backlog"):
        text = "\n".join(";".join(r) for r in read_csv(gil, f"lista={lista}&unidade=STS&agrupar=unidade"))
        assert not any(p in text for p in sts) and "STS" not in text and "Santos" not in text, lista
    rows = read_csv(gil, "lista=etapa&processo=reclamacao&elemento=atendimento_preliminar&unidade=STS")
    assert [r[0] for r in rows[1:]] == [dataset["E"].protocol]
    # and the other unit's manager sees only Santos
    html = page(client_for(app, "sara"), "/painel/")
    assert not any(p in html for p in cap) and dataset["D"].protocol in html


def test_admin_sees_all_units_and_can_pick_one(app: Flask, dataset: Data) -> None:  # noqa: F811
    root = client_for(app, "root")
    html = page(root, "/painel/?agrupar=unidade")
    assert [r[0] for r in table(html, "tabela-conformidade")] == ["Procon Capital", "Procon Santos"]
    assert [r[1] for r in table(html, "lista-atrasados")] == [dataset["D"].protocol, dataset["E"].protocol]
    html = page(root, "/painel/?agrupar=unidade&unidade=STS")
    assert [r[0] for r in table(html, "tabela-conformidade")] == ["Procon Santos"]
    assert [r[1] for r in table(html, "lista-atrasados")] == [dataset["D"].protocol]
    assert '<option value="STS" selected' in html
    rows = read_csv(root, "lista=atrasados&unidade=STS")
    assert [r[0] for r in rows[1:]] == [dataset["D"].protocol]


def test_url_filters_are_applied(app: Flask, dataset: Data) -> None:  # noqa: F811
    root = client_for(app, "root")
    legal = table(page(root, "/painel/?tipo=legal"), "tabela-conformidade")
    assert legal == [["Reclamação do consumidor", "1", "0", "1", "0", "0", "2", "50,0%"]]
    period = table(page(root, "/painel/?de=09/03/2026&ate=15/03/2026"), "tabela-conformidade")
    assert period[0][1:5] == ["2", "1", "1", "0"]
    assert table(page(root, "/painel/?de=2026-03-09&ate=2026-03-15"), "tabela-conformidade") == period
    html = page(root, "/painel/?dias=2")
    assert [r[1] for r in table(html, "lista-proximos")] == [dataset["B"].protocol]
    assert [r[1] for r in table(html, "lista-hoje")] == [dataset["A"].protocol]
    assert table(page(root, "/painel/?dias=0"), "lista-proximos") == []
    assert table(page(root, "/painel/?processo=audiencia"), "tabela-conformidade") == []
    html = page(root, "/painel/?de=31/02/2026&tipo=outro")
    assert "De: data inválida" in html and "Tipo de prazo inválido" in html
    # the CSV links carry the same filters
    html = page(root, "/painel/?tipo=legal&agrupar=etapa")
    links = re.findall(r'href="(/painel/exportar.csv\?lista=conformidade[^"]*)"', html)
    assert links and "tipo=legal" in links[0] and "agrupar=etapa" in links[0]
    rows = read_csv(root, "lista=conformidade&tipo=legal&agrupar=etapa")
    assert [r[0] for r in rows[1:]] == ["prazo_cip"]


def test_csv_has_header_and_rows(app: Flask, dataset: Data) -> None:  # noqa: F811
    root = client_for(app, "root")
    rows = read_csv(root, "lista=conformidade&agrupar=unidade")
    assert rows[0] == ["chave", "grupo", "no_prazo", "com_atraso", "vencidos", "pendentes", "cancelados",
                       "encerrados", "taxa_no_prazo"]
    assert rows[1] == ["CAP", "Procon Capital", "4", "1", "1", "3", "0", "6", "0,6667"]
    rows = read_csv(root, "lista=atrasados")
    assert rows[0][:4] == ["protocolo", "unidade", "processo", "tarefa"]
    assert rows[1][0] == dataset["D"].protocol and rows[1][7] == "23/03/2026" and rows[1][6] == "Fila: atendente"
    rows = read_csv(root, "lista=tempos")
    assert rows[0] == ["chave", "quantidade", "media_horas", "mediana_horas", "p90_horas"]
    assert ["atendimento_preliminar", "3", "88,3333", "24", "240"] in rows
    assert read_csv(root, "lista=hoje")[1][0] == dataset["A"].protocol
    assert root.get("/painel/exportar.csv?lista=senhas").status_code == 404


def test_diagram_and_step_list(app: Flask, dataset: Data) -> None:  # noqa: F811
    root = client_for(app, "root")
    html = page(root, "/painel/?processo=reclamacao")
    assert 'data-xml-url="/painel/diagrama/reclamacao.xml"' in html
    assert '"atendimento_preliminar": {"aguardando": 2, "atrasados": 2' in html
    xml = root.get("/painel/diagrama/reclamacao.xml")
    assert xml.status_code == 200 and b"atendimento_preliminar" in xml.data
    assert root.get("/painel/diagrama/nao_existe.xml").status_code == 404
    step = page(root, "/painel/etapa?processo=reclamacao&elemento=atendimento_preliminar")
    assert [r[0] for r in table(step, "tabela-etapa")] == [dataset["D"].protocol, dataset["E"].protocol]


def _checkbox(html: str, protocol: str) -> str:
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S) if protocol in r and "checkbox" in r)
    match = re.search(r'name="tarefa" value="([^"]+)"', row)
    assert match
    return match.group(1)


def test_bulk_reassign_moves_tasks_and_is_audited(app: Flask, runtime: Runtime, dataset: Data) -> None:  # noqa: F811
    gil = client_for(app, "gil")
    html = page(gil, "/painel/")
    e_task = _checkbox(html, dataset["E"].protocol)
    b_task = _checkbox(html, dataset["B"].protocol)
    token = csrf_token(html)
    # a person without the role is refused, per item, in Portuguese
    response = gil.post("/painel/redistribuir", data={"csrf_token": token, "tarefa": [e_task], "para": "davi",
                                                      "motivo": "Férias"}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Não redistribuída" in text and "não tem o papel “atendente”" in text
    # one moves, the other (an analyst's task) is refused for Ana
    response = gil.post("/painel/redistribuir", data={"csrf_token": token, "tarefa": [e_task, b_task],
                                                      "para": "ana", "motivo": "Caio de férias"},
                        follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "1 tarefa(s) redistribuída(s) para ana." in text and "não tem o papel “analista”" in text
    with runtime.Session() as session:
        task = session.scalars(select(OpenTask).where(OpenTask.task_id == e_task.split(":")[1])).one()
        assert task.assignee == "ana"
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "tarefa_redistribuida")).all()
        assert event.actor == "gil" and event.case_id == dataset["E"].case_id
        assert "Caio de férias" in event.description
    # back to the queue, and the CSRF token is required
    response = gil.post("/painel/redistribuir", data={"csrf_token": token, "tarefa": [e_task], "para": "",
                                                      "motivo": "Volta para a fila"}, follow_redirects=True)
    assert "1 tarefa(s) redistribuída(s) para a fila do papel." in response.get_data(as_text=True)
    assert gil.post("/painel/redistribuir", data={"tarefa": [e_task], "motivo": "x"}).status_code == 400
    # a unit manager cannot touch another unit's task, even with a forged value
    d_task = _checkbox(page(client_for(app, "root"), "/painel/"), dataset["D"].protocol)
    response = gil.post("/painel/redistribuir", data={"csrf_token": token, "tarefa": [d_task], "para": "ana",
                                                      "motivo": "x"}, follow_redirects=True)
    assert "de outra unidade" in response.get_data(as_text=True)
    with runtime.Session() as session:
        assert session.scalars(select(OpenTask.assignee).where(OpenTask.task_id == d_task.split(":")[1])).one() is None
    response = gil.post("/painel/redistribuir", data={"csrf_token": token, "para": "ana", "motivo": "x"},
                        follow_redirects=True)
    assert "Selecione ao menos uma tarefa" in response.get_data(as_text=True)


def _assign_value(html: str, protocol: str) -> str:
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
               if protocol in r and 'action="/painel/atribuir"' in r)
    match = re.search(r'<input type="hidden" name="tarefa" value="([^"]+)"', row)
    assert match
    return match.group(1)


def test_claim_for_someone_is_audited_and_checked(app: Flask, runtime: Runtime, dataset: Data) -> None:  # noqa: F811
    gil = client_for(app, "gil")
    html = page(gil, "/painel/?dias=2")
    # B's analysis waits in the analysts' queue: it has an "Atribuir a" form listing only analysts of CAP
    b_task = _assign_value(html, dataset["B"].protocol)
    form = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
                if dataset["B"].protocol in r and "atribuir" in r)
    assert '<option value="bia">Bia Analista</option>' in form and 'value="ana"' not in form
    # E's task is held by caio: no "Atribuir a" form on its row
    assert not any(dataset["E"].protocol in r and 'action="/painel/atribuir"' in r
                   for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S))
    token = csrf_token(html)
    text = gil.post("/painel/atribuir", data={"csrf_token": token, "tarefa": b_task, "para": ""},
                    follow_redirects=True).get_data(as_text=True)
    assert "Escolha a pessoa que vai assumir a tarefa." in text
    text = gil.post("/painel/atribuir", data={"csrf_token": token, "tarefa": b_task, "para": "ana"},
                    follow_redirects=True).get_data(as_text=True)
    assert "não tem o papel “analista”" in text
    text = gil.post("/painel/atribuir", data={"csrf_token": token, "tarefa": b_task, "para": "bia",
                                              "motivo": "Bia cobre a fila hoje"},
                    follow_redirects=True).get_data(as_text=True)
    assert f"{dataset['B'].protocol} — Analisar reclamação: atribuída a bia." in text
    with runtime.Session() as session:
        task = session.scalars(select(OpenTask).where(OpenTask.task_id == b_task.split(":")[1])).one()
        assert task.assignee == "bia"
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "tarefa_redistribuida")).all()
        assert (event.actor, event.case_id, event.details["de"], event.details["para"]) == (
            "gil", dataset["B"].case_id, None, "bia")
        assert "Bia cobre a fila hoje" in event.description
        # the Painel's person counts follow: Bia now holds two running deadlines
        people = {r.chave: r.pendentes for r in compliance(session, Filters(unit="CAP"), "pessoa")}
        assert people["bia"] == 2
    # already held: refused, pointing to "Redistribuir"
    text = gil.post("/painel/atribuir", data={"csrf_token": token, "tarefa": b_task, "para": "bia"},
                    follow_redirects=True).get_data(as_text=True)
    assert "a tarefa já está com bia" in text and "Redistribuir" in text
    # another unit's task, even forged, is refused; and the CSRF token is required
    d_task = _assign_value(page(client_for(app, "root"), "/painel/"), dataset["D"].protocol)
    text = gil.post("/painel/atribuir", data={"csrf_token": token, "tarefa": d_task, "para": "bia"},
                    follow_redirects=True).get_data(as_text=True)
    assert "de outra unidade" in text
    assert gil.post("/painel/atribuir", data={"tarefa": d_task, "para": "bia"}).status_code == 400
    assert client_for(app, "ana").post("/painel/atribuir", data={"csrf_token": token, "tarefa": d_task,
                                                                 "para": "ana"}).status_code in (400, 403)
    # on the list of cases waiting on a step, too
    step = page(client_for(app, "root"), "/painel/etapa?processo=reclamacao&elemento=atendimento_preliminar")
    assert _assign_value(step, dataset["D"].protocol) == d_task


def test_custom_period_and_weekly_trend(app: Flask, runtime: Runtime, dataset: Data) -> None:  # noqa: F811
    root = client_for(app, "root")
    html = page(root, "/painel/?de=02/03/2026&ate=20/03/2026&periodo=semana")
    with runtime.Session() as session:
        period = Filters(start=dt.datetime(2026, 3, 2, 3, tzinfo=dt.UTC),
                         end=dt.datetime(2026, 3, 21, 3, tzinfo=dt.UTC))
        weeks = compliance_trend(session, period, "semana")
    assert [p.periodo for p in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert table(html, "tabela-tendencia") == [[p.rotulo, str(p.encerrados), str(p.no_prazo), pct(p.taxa_no_prazo)]
                                               for p in weeks]
    assert table(html, "tabela-tendencia")[0][0] == "Semana de 02/03/2026"
    assert "Evolução semanal" in html and '<option value="semana" selected' in html
    assert table(html, "tabela-conformidade")[0][1:5] == ["4", "2", "1", "0"]
    rows = read_csv(root, "lista=tendencia&de=02/03/2026&ate=20/03/2026&periodo=semana")
    assert [r[0] for r in rows[1:]] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    rows = read_csv(root, "lista=backlog&periodo=semana")
    assert [r[:3] for r in rows[1:]] == [["2026-03-02", "3", "0"], ["2026-03-09", "0", "1"], ["2026-03-16", "1", "0"],
                                         ["2026-03-23", "1", "0"]]
    # links keep the period
    assert "periodo=semana" in re.findall(r'href="(/painel/exportar.csv\?lista=tendencia[^"]*)"', html)[0]
    html = page(root, "/painel/?de=20/03/2026&ate=02/03/2026&periodo=ano")
    assert "Período inválido: a data final (até) é anterior à inicial (de)." in html
    assert "Período da evolução inválido" in html


def test_every_list_has_a_csv_and_every_chart_a_table(app: Flask, dataset: Data) -> None:  # noqa: F811
    root = client_for(app, "root")
    html = page(root, "/painel/?processo=reclamacao")
    for table_id in ("tabela-conformidade", "tabela-tendencia", "tabela-espera", "tabela-tempos",
                     "tabela-tempos-processo", "tabela-duracao-casos", "tabela-backlog"):
        assert f'id="{table_id}"' in html, table_id
    links = set(re.findall(r'href="/painel/exportar.csv\?lista=([a-z_]+)', html))
    assert {"conformidade", "tendencia", "atrasados", "hoje", "proximos", "espera", "tempos", "tempos_processo",
            "duracao_casos", "backlog"} <= links
    assert table(html, "tabela-duracao-casos") == [["reclamacao", "1", "240,0", "240,0", "240,0"]]
    rows = read_csv(root, "lista=duracao_casos")
    assert rows == [["chave", "quantidade", "media_horas", "mediana_horas", "p90_horas"],
                    ["reclamacao", "1", "240", "240", "240"]]
    rows = read_csv(root, "lista=espera&processo=reclamacao")
    assert rows[1:] == [["analisar_reclamacao", "Analisar reclamação", "2", "0"],
                        ["atendimento_preliminar", "Atendimento preliminar", "2", "2"]]
    assert root.get("/painel/exportar.csv?lista=espera").status_code == 404


def test_now_lists_stop_at_the_limit_and_say_so(app: Flask, runtime: Runtime, dataset: Data,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with runtime.Session() as session:
        one = now_lists(session, Filters(), calendars=runtime.calendars, limit=1)
    assert [i.protocolo for i in one.atrasados] == [dataset["D"].protocol]
    assert one.totais == {"atrasados": 2, "vencem_hoje": 1, "proximos": 1}
    monkeypatch.setattr(live, "NOW_LIMIT", 1)
    monkeypatch.setattr(now_lists, "__kwdefaults__", {**now_lists.__kwdefaults__, "limit": 1})
    root = client_for(app, "root")
    html = page(root, "/painel/")
    assert "Atrasados (mais antigos primeiro) (2)" in html
    assert "Mostrando os 1 primeiros de 2; o CSV traz a lista completa." in html
    assert [r[1] for r in table(html, "lista-atrasados")] == [dataset["D"].protocol]
    assert len(read_csv(root, "lista=atrasados")) == 3  # header + both
