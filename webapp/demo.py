"""Demo data: a person in every role and a few complaints in different states.

Cases are created with the engine's clock moved into the past, so the demo shows deadlines that
are running, one that is overdue and already fired, and a closed case, all through the real
engine commands.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.models import Case, User
from engine.protocol import AGENCY_TZ
from engine.runtime import Runtime
from engine.scheduler import DeadlineWorker
from webapp.users import actor_for, create_user

DEMO_PASSWORD = "procon2026"

DEMO_USERS: list[tuple[str, str, list[str]]] = [
    ("atendente", "Ana Souza (atendente)", ["atendente"]),
    ("atendente2", "Caio Lima (atendente)", ["atendente"]),
    ("analista", "Beatriz Rocha (analista)", ["analista"]),
    ("conciliador", "Davi Martins (conciliador)", ["conciliador"]),
    ("fiscal", "Fábio Nunes (fiscal)", ["fiscal"]),
    ("autoridade", "Helena Prado (autoridade julgadora)", ["autoridade"]),
    ("gestor", "Gabriela Alves (gestora)", ["gestor"]),
    ("processos", "Paulo Reis (analista de processos)", ["analista_processos"]),
    ("admin", "Administrador do sistema", ["admin"]),
]

CONSUMERS = [
    ("Maria Aparecida Santos", "529.982.247-25", "maria.santos@example.com", "Eletro Casa Ltda", "11.222.333/0001-81",
     "Geladeira entregue com defeito; a loja não aceita a troca.", "Troca do produto."),
    ("José Carlos Pereira", "111.444.777-35", "jose.pereira@example.com", "Telefonia Brasil S.A.", "12.ABC.345/01DE-35",
     "Cobrança de serviço que nunca contratei na fatura de janeiro.", "Cancelamento e devolução em dobro."),
    ("Ana Beatriz Oliveira", "390.533.447-05", "ana.oliveira@example.com", "Banco Exemplo S.A.", "11.444.777/0001-61",
     "Tarifa bancária cobrada sem previsão contratual.", "Estorno das tarifas."),
    ("Roberto Nascimento", "853.513.468-93", "roberto.n@example.com", "Viagens Sol Ltda", "04.252.011/0001-10",
     "Voo cancelado sem reacomodação nem reembolso.", "Reembolso integral."),
    ("Luciana Ferreira", "453.178.287-91", "luciana.f@example.com", "Móveis Bom Lar ME", "60.701.190/0001-04",
     "Móveis não entregues no prazo combinado.", "Entrega imediata ou devolução do valor."),
]


def ensure_users(runtime: Runtime) -> dict[str, Actor]:
    with runtime.Session.begin() as session:
        existing = {u.username: u for u in session.scalars(select(User))}
        for username, name, roles in DEMO_USERS:
            if username not in existing:
                existing[username] = create_user(session, username, name, roles, DEMO_PASSWORD,
                                                 email=f"{username}@procon.example")
        return {name: actor_for(user) for name, user in existing.items()}


def _registration(index: int) -> dict[str, str]:
    name, cpf, email, supplier, cnpj, facts, request = CONSUMERS[index]
    return {"consumidor_nome": name, "consumidor_cpf": cpf, "consumidor_email": email, "fornecedor_nome": supplier,
            "fornecedor_cnpj": cnpj, "canal": "presencial", "fatos": facts, "pedido": request, "valor": "1.250,00"}


def _complete(runtime: Runtime, result, actor: Actor, values: dict[str, str]):  # noqa: ANN001, ANN202
    task = result.open_tasks[0]
    return runtime.complete_task(result.case_id, task.task_id, actor, values)


def create_demo_cases(runtime: Runtime, actors: dict[str, Actor]) -> int:
    """Six complaints in different states; does nothing when cases already exist.

    Each story starts at a moment chosen on the unit's calendar, then the worker runs once, so the
    demo always opens with a fired CIP deadline, a "prazo vencendo" warning and an overdue task
    escalated to the manager, whatever today's date and holidays.
    """
    with runtime.Session() as session:
        if session.scalar(select(func.count(Case.id))):
            return 0
    real_now = clock.now()
    calendar = runtime.calendars.for_unit(runtime.config.unit)
    today = real_now.astimezone(AGENCY_TZ).date()

    def morning(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(10, 0), AGENCY_TZ).astimezone(dt.UTC)

    at, an = actors["atendente"], actors["analista"]
    preliminar = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Contato por telefone sem acordo."}
    cip = {"cip_texto": "Solicitamos manifestação sobre a reclamação no prazo legal.",
           "cip_email_fornecedor": "sac@fornecedor.example"}
    answer = {"data_resposta": today.isoformat()}

    def unanswered_cip(index: int) -> None:
        result = runtime.start_case("reclamacao", at, _registration(index))
        result = _complete(runtime, result, at, preliminar)
        _complete(runtime, result, at, cip)

    def closed(index: int) -> None:
        result = runtime.start_case("reclamacao", at, _registration(index))
        result = _complete(runtime, result, at, preliminar)
        result = _complete(runtime, result, at, cip)
        result = _complete(runtime, result, at, {**answer, "consumidor_aceitou": "sim",
                                                 "resposta_fornecedor": "Cancelamos a cobrança e devolvemos o valor."})
        _complete(runtime, result, an, {"desfecho": "fundamentada_atendida",
                                        "fundamentacao": "Fornecedor reconheceu a cobrança indevida e a estornou."})

    def at_hearing(index: int) -> None:
        result = runtime.start_case("reclamacao", at, _registration(index))
        result = _complete(runtime, result, at, preliminar)
        result = _complete(runtime, result, at, cip)
        result = _complete(runtime, result, at, {**answer, "consumidor_aceitou": "nao",
                                                 "resposta_fornecedor": "A tarifa está prevista no contrato."})
        _complete(runtime, result, an, {"desfecho": "audiencia", "fundamentacao": "Tentar acordo em audiência."})

    def registered(index: int, **changes: str) -> None:
        runtime.start_case("reclamacao", at, dict(_registration(index), **changes))

    stories = [
        # A CIP sent 15 days ago and never answered: its deadline fires -> analysis.
        (real_now - dt.timedelta(days=15), lambda: unanswered_cip(0)),
        # Closed: answered, analysed as fundamentada atendida.
        (real_now - dt.timedelta(days=12), lambda: closed(1)),
        # A CIP whose 10 days end tomorrow (or the next working day): the worker warns the queue.
        (real_now - dt.timedelta(days=9), lambda: unanswered_cip(3)),
        # Registered 7 working days ago and never contacted: its 5-working-day deadline is overdue.
        (morning(calendar.add_working_days(today, -7)), lambda: registered(4)),
        # At the conciliation hearing.
        (real_now - dt.timedelta(days=8), lambda: at_hearing(2)),
        # Just registered, waiting for the preliminary contact.
        (real_now - dt.timedelta(hours=2),
         lambda: registered(0, consumidor_nome="Paulo Henrique Costa", consumidor_cpf="168.995.350-09")),
    ]
    stories.sort(key=lambda story: story[0])
    frozen = clock.FrozenClock(stories[0][0])
    clock.set_clock(frozen)
    try:
        for moment, story in stories:
            frozen.set(moment)
            story()
    finally:
        clock.set_clock(None)
    DeadlineWorker(runtime).run_once()
    return len(stories)
