"""The demo's people: a staff user in every role, the consumers and suppliers its cases are about, and
their portal accounts, all with the one demo password.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.actors import Actor
from engine.runtime import Runtime
from engine.store.models import User
from webapp.users import actor_for, create_user

DEMO_PASSWORD = "procon-demo-2026"

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

#: Suppliers inspected or sanctioned: name, CNPJ, address, e-mail, what was found, the rule broken.
SUPPLIERS = [
    ("Mercado Bom Preço Ltda", "45.678.912/0001-55", "Av. Paulista, 1000 – Bela Vista – São Paulo/SP",
     "juridico@bompreco.example", "Produtos expostos sem preço nas gôndolas da seção de limpeza.",
     "Lei 8.078/1990, art. 31; Decreto 2.181/1997, art. 13, I."),
    ("Posto Estrela Ltda", "33.445.566/0001-86", "Rua Vergueiro, 2500 – Vila Mariana – São Paulo/SP",
     "contato@postoestrela.example", "Preço do combustível na bomba maior que o anunciado no painel.",
     "Lei 8.078/1990, arts. 30 e 31."),
    ("Farmácia Vida Ltda", "77.889.900/0001-66", "Rua Augusta, 300 – Consolação – São Paulo/SP",
     "sac@farmaciavida.example", "Medicamentos com prazo de validade vencido expostos à venda.",
     "Lei 8.078/1990, art. 18, § 6º, I."),
    ("Eletro Casa Ltda", "11.222.333/0001-81", "Rua 25 de Março, 700 – Centro – São Paulo/SP",
     "juridico@eletrocasa.example", "Recusa reiterada de troca de produtos com vício dentro da garantia.",
     "Lei 8.078/1990, art. 18."),
    ("Telefonia Brasil S.A.", "12.ABC.345/01DE-35", "Av. Brigadeiro Faria Lima, 4000 – Itaim Bibi – São Paulo/SP",
     "juridico@telefoniabrasil.example", "Cobrança de serviços não contratados nas faturas de clientes.",
     "Lei 8.078/1990, art. 39, III."),
    ("Viagens Sol Ltda", "04.252.011/0001-10", "Rua da Consolação, 1500 – Consolação – São Paulo/SP",
     "juridico@viagenssol.example", "Cancelamento de pacotes sem reembolso nem reacomodação dos clientes.",
     "Lei 8.078/1990, arts. 20 e 35."),
]


def ensure_users(runtime: Runtime) -> dict[str, Actor]:
    with runtime.Session.begin() as session:
        existing = {u.username: u for u in session.scalars(select(User))}
        for username, name, roles in DEMO_USERS:
            if username not in existing:
                existing[username] = create_user(session, username, name, roles, DEMO_PASSWORD,
                                                 email=f"{username}@procon.example")
        return {name: actor_for(user) for name, user in existing.items()}


#: Portal accounts: (kind, name, e-mail, CPF or CNPJ, company name). They answer for demo cases' parties.
PORTAL_ACCOUNTS: list[tuple[str, str, str, str, str]] = [
    ("consumidor", "Maria Aparecida Santos", "maria.santos@example.com", "529.982.247-25", ""),
    ("consumidor", "Roberto Nascimento", "roberto.n@example.com", "853.513.468-93", ""),
    ("fornecedor", "Sílvia Jurídico (Viagens Sol)", "juridico@viagenssol.example", "04.252.011/0001-10",
     "Viagens Sol Ltda"),
    ("fornecedor", "Otávio Jurídico (Eletro Casa)", "juridico@eletrocasa.example", "11.222.333/0001-81",
     "Eletro Casa Ltda"),
]


def ensure_portal_accounts(runtime: Runtime) -> list[tuple[str, str, str]]:
    """The demo's consumers and suppliers in the portal, confirmed and proven (the consumers as if confirmed in
    person at the Procon, the representatives as approved by the demo); returns (kind, e-mail, name) of each."""
    from engine.parties.accounts import confirm_email, register_consumer, register_supplier
    from engine.parties.companies import prove_for_demo
    from engine.parties.identity import prove_in_full, proven_in_full
    from engine.parties.models import OutboundEmail, PortalAccount

    with runtime.Session.begin() as session:
        known = set(session.scalars(select(PortalAccount.email)))
        for kind, name, email, document, company in PORTAL_ACCOUNTS:
            if email not in known:
                if kind == "consumidor":
                    signup = register_consumer(session, name=name, cpf=document, email=email,
                                               password=DEMO_PASSWORD)
                else:
                    signup = register_supplier(session, cnpj=document, company_name=company, name=name,
                                               email=email, password=DEMO_PASSWORD)
                assert signup.token is not None
                confirm_email(session, signup.token)
            account = session.scalars(select(PortalAccount).where(PortalAccount.email == email)).one()
            if kind == "consumidor" and not proven_in_full(session, account):
                prove_in_full(session, account, "presencial", "demo", "Conta de demonstração (procon demo)")
            elif kind == "fornecedor":
                prove_for_demo(session, account, company)
        # The demo confirms its accounts itself: their confirmation e-mails are not sent.
        for pending in session.scalars(select(OutboundEmail).where(OutboundEmail.status == "pendente",
                                                                   OutboundEmail.kind == "confirmacao")):
            pending.status = "dispensado"
    return [(kind, email, name) for kind, name, email, _d, _c in PORTAL_ACCOUNTS]
