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
from engine.runtime import Runtime
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
    """Five complaints in different states; does nothing when cases already exist."""
    with runtime.Session() as session:
        if session.scalar(select(func.count(Case.id))):
            return 0
    real_now = clock.now()
    frozen = clock.FrozenClock(real_now - dt.timedelta(days=15))
    clock.set_clock(frozen)
    try:
        at, an, co = actors["atendente"], actors["analista"], actors["conciliador"]
        preliminar = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Contato por telefone sem acordo."}
        cip = {"cip_texto": "Solicitamos manifestação sobre a reclamação no prazo legal.",
               "cip_email_fornecedor": "sac@fornecedor.example"}
        # 1. CIP sent 15 days ago and never answered: its deadline fires -> analysis (overdue path).
        r1 = runtime.start_case("reclamacao", at, _registration(0))
        r1 = _complete(runtime, r1, at, preliminar)
        _complete(runtime, r1, at, cip)
        # 2. Closed: answered, analysed as fundamentada atendida.
        frozen.advance(dt.timedelta(days=3))
        r2 = runtime.start_case("reclamacao", at, _registration(1))
        r2 = _complete(runtime, r2, at, preliminar)
        r2 = _complete(runtime, r2, at, cip)
        r2 = _complete(runtime, r2, at, {"resposta_fornecedor": "Cancelamos a cobrança e devolvemos o valor.",
                                         "data_resposta": frozen.current.date().isoformat(),
                                         "consumidor_aceitou": "sim"})
        _complete(runtime, r2, an, {"desfecho": "fundamentada_atendida",
                                    "fundamentacao": "Fornecedor reconheceu a cobrança indevida e a estornou."})
        # 3. At the conciliation hearing.
        frozen.advance(dt.timedelta(days=4))
        r3 = runtime.start_case("reclamacao", at, _registration(2))
        r3 = _complete(runtime, r3, at, preliminar)
        r3 = _complete(runtime, r3, at, cip)
        r3 = _complete(runtime, r3, at, {"resposta_fornecedor": "A tarifa está prevista no contrato.",
                                         "data_resposta": frozen.current.date().isoformat(),
                                         "consumidor_aceitou": "nao"})
        _complete(runtime, r3, an, {"desfecho": "audiencia", "fundamentacao": "Tentar acordo em audiência."})
        # 4. Waiting for the supplier's answer to the CIP (deadline running).
        frozen.advance(dt.timedelta(days=6))
        r4 = runtime.start_case("reclamacao", at, _registration(3))
        r4 = _complete(runtime, r4, at, preliminar)
        _complete(runtime, r4, at, cip)
        # 5. Just registered, waiting for the preliminary contact.
        frozen.set(real_now - dt.timedelta(hours=2))
        runtime.start_case("reclamacao", at, _registration(4))
        del co
    finally:
        clock.set_clock(None)
    runtime.fire_due_timers()
    return 5
