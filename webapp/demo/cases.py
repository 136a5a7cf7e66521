"""The demo's cases: stories in every procedure, played into different states (its people are in
:mod:`webapp.demo.accounts`).

Every case goes through the real engine commands (``start_case``, ``complete_task``,
``complete_service_task``) with the engine's clock moved into the past, one step after another in
time order, so the demo shows deadlines that are running, one that is overdue and already fired,
closed cases, real documents with verification codes and a service task the worker could not do.
Moments are chosen on the unit's working calendar, so the demo works whatever today's date.

There is no outside service in the demo: documents are rendered here as the worker's handler would
(``tasks.documents``) and e-mails are recorded as sent, except the last one of a fresh auto de
infração, left to the worker: without SMTP configured it becomes an incident for the administrator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.errors import InvalidSubmission
from engine.runtime import CaseResult, Runtime
from engine.store.models import Case, ExternalJob
from engine.store.protocol import AGENCY_TZ
from engine.worker.scheduler import DeadlineWorker
from webapp.demo.accounts import CONSUMERS, SUPPLIERS
from webapp.demo.player import Story, play

SENDER = "demonstração"


def _registration(index: int) -> dict[str, str]:
    name, cpf, email, supplier, cnpj, facts, request = CONSUMERS[index]
    return {"consumidor_nome": name, "consumidor_cpf": cpf, "consumidor_email": email, "fornecedor_nome": supplier,
            "fornecedor_cnpj": cnpj, "canal": "presencial", "fatos": facts, "pedido": request, "valor": "1.250,00"}


def _today() -> str:
    """The engine clock's date in the agency's time zone, as a form posts it."""
    return clock.now().astimezone(AGENCY_TZ).date().isoformat()


class _Demo:
    """The demo's stories, with the people, the unit's calendar and the steps they share."""

    def __init__(self, runtime: Runtime, actors: dict[str, Actor]) -> None:
        self.runtime = runtime
        self.actors = actors
        self.real_now = clock.now()
        self.calendar = runtime.calendars.for_unit(runtime.config.unit)
        self.today = self.real_now.astimezone(AGENCY_TZ).date()
        self.worker = DeadlineWorker(runtime)
        self.autos = 0

    # -- time ------------------------------------------------------------------------------------------
    def working_day(self, n: int) -> dt.date:
        """The working day ``n`` working days from today (negative: in the past)."""
        return self.calendar.add_working_days(self.today, n)

    def at(self, days_ago: int, hour: int = 10, minute: int = 0) -> dt.datetime:
        """``hour`` o'clock on the working day ``days_ago`` working days before today."""
        day = self.working_day(-days_ago)
        return dt.datetime.combine(day, dt.time(hour, minute), AGENCY_TZ).astimezone(dt.UTC)

    # -- steps -----------------------------------------------------------------------------------------
    def step(self, result: CaseResult, spec_name: str, actor: str, values: Mapping[str, Any]) -> CaseResult:
        task = next((t for t in result.open_tasks if t.spec_name == spec_name), None)
        if task is None:
            raise RuntimeError(f"Demonstração: o caso {result.protocol} não tem a tarefa {spec_name} aberta "
                               f"({[t.spec_name for t in result.open_tasks]}).")
        try:
            return self.runtime.complete_task(result.case_id, task.task_id, self.actors[actor], values)
        except InvalidSubmission as error:  # a demo form out of date with its form definition
            raise RuntimeError(f"Demonstração: {spec_name} recusou {error.result.errors}.") from error

    def pending_job(self, result: CaseResult, topic: str) -> ExternalJob:
        with self.runtime.Session() as session:
            job = session.scalars(select(ExternalJob).where(ExternalJob.case_id == result.case_id,
                                                            ExternalJob.status == "pendente")).first()
        if job is None or job.topic != topic:
            raise RuntimeError(f"Demonstração: o caso {result.protocol} não espera o serviço {topic}.")
        return job

    def document(self, result: CaseResult) -> CaseResult:
        """The pending ``gerar_documento`` service task, done as its handler does: a real document is rendered
        and stored with its verification code, and its reference goes back to the case."""
        from tasks.context import TaskContext, TaskSettings
        from tasks.documents import render_document

        job = self.pending_job(result, "gerar_documento")
        kind = job.payload["documento_tipo"]
        context = TaskContext(settings=TaskSettings.from_env(), case_id=result.case_id, protocol=result.protocol,
                              unit=job.unit or self.runtime.config.unit, now=clock.now(), job_id=job.id)
        reference = self.worker._save_document(result.case_id, render_document(kind, dict(job.payload), context))
        return self.runtime.complete_service_task(job.id, {f"documento_{kind}": reference}, worker=SENDER)

    def email_sent(self, result: CaseResult) -> CaseResult:
        """The pending ``enviar_email`` service task, recorded as the handler records a message handed over."""
        job = self.pending_job(result, "enviar_email")
        sent = {"email_enviado_em": clock.now().isoformat(timespec="seconds"),
                "email_message_id": f"<demo-{job.id}@procon.example>"}
        return self.runtime.complete_service_task(job.id, sent, worker=SENDER)

    def read(self, result: CaseResult) -> CaseResult:
        """The atendente records that the notice was read today (``notificacao``'s ciência)."""
        return self.step(result, "registrar_ciencia", "atendente",
                         {"notificacao_ciencia_em": _today(), "notificacao_ciencia_meio": "confirmacao_leitura"})

    # -- complaints (reclamacao) ------------------------------------------------------------------------
    preliminar = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Contato por telefone sem acordo."}
    cip = {"cip_texto": "Solicitamos manifestação sobre a reclamação no prazo legal.",
           "cip_email_fornecedor": "sac@fornecedor.example"}

    def unanswered_cip(self, moment: dt.datetime, index: int) -> Story:
        yield moment
        result = self.runtime.start_case("reclamacao", self.actors["atendente"], _registration(index))
        result = self.step(result, "atendimento_preliminar", "atendente", self.preliminar)
        self.step(result, "emitir_cip", "atendente", self.cip)

    def answered(self, index: int, answer: str, proposal: str = "") -> CaseResult:
        """The supplier's answer to the CIP (by post: the atendente registers it on the supplier's behalf)."""
        result = self.runtime.start_case("reclamacao", self.actors["atendente"], _registration(index))
        result = self.step(result, "atendimento_preliminar", "atendente", self.preliminar)
        result = self.step(result, "emitir_cip", "atendente", self.cip)
        return self.step(result, "registrar_resposta", "atendente",
                         {"resposta_fornecedor": answer, "proposta_acordo": proposal})

    def closed_complaint(self, moment: dt.datetime, index: int) -> Story:
        yield moment
        result = self.answered(index, "Cancelamos a cobrança e devolvemos o valor.")
        self.step(result, "analisar_reclamacao", "analista", {
            "desfecho": "fundamentada_atendida",
            "fundamentacao": "Fornecedor reconheceu a cobrança indevida e a estornou."})

    def complaint_at_hearing(self, moment: dt.datetime, index: int) -> Story:
        yield moment
        result = self.answered(index, "A tarifa está prevista no contrato.", "Desconto de 50% na próxima fatura.")
        # The consumer refused the proposal by phone: the atendente registers it on the consumer's behalf.
        result = self.step(result, "avaliar_proposta", "atendente", {
            "proposta_resposta": "recusada", "proposta_comentario": "Quer o estorno integral, não desconto."})
        self.step(result, "analisar_reclamacao", "analista",
                  {"desfecho": "audiencia", "fundamentacao": "Tentar acordo em audiência."})

    def proposal_to_evaluate(self, moment: dt.datetime, index: int) -> Story:
        """The supplier answered with a proposal: the consumer decides in the portal (Avaliar a proposta)."""
        yield moment
        self.answered(index, "Reconhecemos o defeito.", "Troca do produto em 5 dias úteis, com retirada em casa.")

    def registered(self, moment: dt.datetime, index: int, **changes: str) -> Story:
        yield moment
        self.runtime.start_case("reclamacao", self.actors["atendente"], dict(_registration(index), **changes))

    # -- inspections (fiscalizacao) ---------------------------------------------------------------------
    def denuncia(self, supplier: int, origin: str = "consumidor") -> dict[str, str]:
        name, cnpj, address, _email, facts, _rule = SUPPLIERS[supplier]
        person = CONSUMERS[supplier % len(CONSUMERS)] if origin == "consumidor" else None
        return {"denuncia_origem": origin, "denunciante_nome": person[0] if person else "",
                "denunciante_cpf": person[1] if person else "", "denunciante_email": person[2] if person else "",
                "fornecedor_cnpj": cnpj, "fornecedor_nome": name, "fornecedor_endereco": address,
                "denuncia_abrangencia": "coletiva", "denuncia_fatos": facts}

    def triage(self, result: CaseResult) -> CaseResult:
        return self.step(result, "triagem_denuncia", "analista", {
            "triagem_decisao": "fiscalizar", "triagem_prioridade": "alta",
            "triagem_fundamentacao": "Prática que atinge consumidores em geral: fiscalizar no local."})

    def inspection_waiting_triage(self) -> Story:
        yield self.real_now - dt.timedelta(hours=3)
        self.runtime.start_case("fiscalizacao", self.actors["atendente"], self.denuncia(2))

    def inspection_in_the_field(self) -> Story:
        yield self.at(6, 11)
        result = self.runtime.start_case("fiscalizacao", self.actors["atendente"], self.denuncia(1, "anonima"))
        yield self.at(5, 9)
        self.triage(result)

    def inspected(self, supplier: int, registered_ago: int) -> Iterator[dt.datetime | CaseResult]:
        """A denúncia registered ``registered_ago`` working days ago, triaged two working days later and
        inspected two more later, with an irregularity: the case goes on to the sanctioning process."""
        yield self.at(registered_ago, 14)
        result = self.runtime.start_case("fiscalizacao", self.actors["atendente"], self.denuncia(supplier))
        yield self.at(registered_ago - 2, 9)
        result = self.triage(result)
        yield self.at(registered_ago - 4, 16)
        _name, _cnpj, address, email, facts, _rule = SUPPLIERS[supplier]
        yield self.step(result, "realizar_fiscalizacao", "fiscal", {
            "fiscalizacao_data": _today(), "fiscalizacao_local": address, "fornecedor_email": email,
            "fiscalizacao_constatacoes": f"{facts} Termo de constatação e fotos anexados ao relatório.",
            "fiscalizacao_conclusao": "auto", "fiscalizacao_fundamentacao": "Infração constatada no local."})

    def inspection_auto_due(self) -> Story:
        """Irregularity found: the fiscal has to draw up the auto (the first task of processo_sancionatorio)."""
        yield from self._moments(self.inspected(3, 6))

    def inspection_defence_running(self) -> Story:
        """Auto drawn up after the inspection, notified and read: the defence deadline runs (analista)."""
        result = yield from self._moments(self.inspected(5, 10))
        yield from self._moments(self.sanction(5, 5, result=result))

    # -- sanctioning (processo_sancionatorio, with notificacao and recurso_multa inside) ----------------------
    def auto(self, supplier: int) -> dict[str, str]:
        name, cnpj, address, email, facts, rule = SUPPLIERS[supplier]
        drawn_up = clock.now().astimezone(AGENCY_TZ) - dt.timedelta(minutes=30)
        self.autos += 1
        return {"origem": "fiscalizacao", "reclamacao_protocolo": "",
                "auto_numero": f"CAP-AI-{drawn_up.year}/{self.autos:03d}",
                "data_lavratura": drawn_up.date().isoformat(), "hora_lavratura": str(drawn_up.hour),
                "minuto_lavratura": str(drawn_up.minute), "local_infracao": address, "fornecedor_cnpj": cnpj,
                "fornecedor_nome": name, "fornecedor_endereco": address, "fornecedor_email": email,
                "fatos": facts, "dispositivo_infringido": rule, "determinacao": "Cessar a prática imediatamente.",
                "fiscal_nome": "Fábio Nunes", "fiscal_matricula": "F-1234",
                "orgao_julgador": "Diretoria de Fiscalização do Procon"}

    def sanction(self, supplier: int, days_ago: int, read_after: int | None = 1,
                 result: CaseResult | None = None) -> Iterator[dt.datetime | CaseResult]:
        """The auto drawn up ``days_ago`` working days ago (a new case, or the lavrar_auto task open in
        ``result``), its document generated and e-mailed; read ``read_after`` working days later (not read
        with ``None``). Yields moments, then the case."""
        yield self.at(days_ago, 11)
        if result is None:
            result = self.runtime.start_case("processo_sancionatorio", self.actors["fiscal"], self.auto(supplier))
        else:
            result = self.step(result, "lavrar_auto", "fiscal", self.auto(supplier))
        result = self.document(result)
        yield self.at(days_ago, 11, 20)
        result = self.email_sent(result)
        if read_after is not None:
            yield self.at(days_ago - read_after, 15)
            result = self.read(result)
        yield result

    def until_defence(self, supplier: int, days_ago: int, instructed_ago: int
                      ) -> Iterator[dt.datetime | CaseResult]:
        """... read the next working day, the defence filed five working days after that, the instruction
        (without a hearing) done ``instructed_ago`` working days ago."""
        result = yield from self._moments(self.sanction(supplier, days_ago))
        yield self.at(days_ago - 6, 14)
        result = self.step(result, "registrar_defesa", "analista", {  # filed by post, registered for the supplier
            "defesa_data_protocolo": _today(), "defesa_representante": "Dra. Carla Souza (OAB/SP 123.456)",
            "defesa_resumo": "A empresa alega falha pontual de um funcionário e diz ter corrigido a prática.",
            "testemunha_1_nome": "Pedro Lima", "testemunha_2_nome": "", "testemunha_3_nome": ""})
        yield self.at(instructed_ago, 16)
        result = self.step(result, "instruir_processo", "analista", {
            "instrucao_provas": "Termo de constatação, fotos e defesa.", "audiencia_instrucao": "nao",
            "parecer_instrucao": "A infração está comprovada pelo termo de constatação e pelas fotos."})
        yield result

    @staticmethod
    def _moments(steps: Iterator[Any]) -> Any:
        """Re-yield a sub-story's moments and return the case it ends with."""
        for item in steps:
            if isinstance(item, CaseResult):
                return item
            yield item
        raise RuntimeError("Demonstração: a etapa não devolveu o caso.")

    def decide(self, result: CaseResult) -> CaseResult:
        return self.step(result, "decidir_primeira_instancia", "autoridade", {
            "decisao_resultado": "procedente", "decisao_data": _today(),
            "decisao_fundamentacao": "Auto procedente: a prática foi constatada e a defesa não a afasta.",
            "decisao_determinacoes": "Cessar a prática e comprovar a regularização em 30 dias.",
            "autoridade_nome": "Helena Prado, Diretora de Fiscalização"})

    def fine(self, result: CaseResult) -> CaseResult:
        result = self.step(result, "fixar_multa", "autoridade", {
            "gravidade": "grave", "receita_bruta_mensal": "850.000,00", "vantagem_auferida": "7.500,00",
            "dosimetria_justificativa": "Infração grave, de alcance coletivo, em empresa de médio porte."})
        return self.document(result)

    def sanction_notice_failing(self) -> Story:
        """Drawn up two hours ago: the e-mail to the supplier is left to the worker (an incident without SMTP)."""
        yield self.real_now - dt.timedelta(hours=2)
        result = self.runtime.start_case("processo_sancionatorio", self.actors["fiscal"], self.auto(3))
        self.document(result)

    def sanction_waiting_ciencia(self) -> Story:
        yield from self._moments(self.sanction(4, 1, read_after=None))

    def sanction_waiting_decision(self) -> Story:
        yield from self._moments(self.until_defence(0, 24, 8))

    def sanction_appeal_window(self) -> Story:
        result = yield from self._moments(self.until_defence(1, 36, 12))
        yield self.at(4, 15)
        result = self.decide(result)
        yield self.at(3, 11)
        result = self.fine(result)
        yield self.at(3, 11, 30)
        result = self.email_sent(result)
        yield self.at(1, 10)
        self.read(result)

    def sanction_appeal_analysed(self) -> Story:
        result = yield from self._moments(self.until_defence(2, 50, 25))
        yield self.at(17, 15)
        result = self.decide(result)
        yield self.at(16, 11)
        result = self.fine(result)
        yield self.at(16, 11, 30)
        result = self.email_sent(result)
        yield self.at(15, 10)
        result = self.read(result)
        yield self.at(13, 14)
        result = self.step(result, "receber_recurso", "analista", {  # filed at the counter, for the supplier
            "recurso_interposicao": "A multa desconsidera a boa-fé e o porte da empresa.",
            "recurso_canal": "protocolo"})
        result = self.step(result, "registrar_recurso", "analista", {
            "recurso_data_protocolo": _today(), "recurso_representante": "Dra. Carla Souza (OAB/SP 123.456)",
            "recurso_pedido": "reducao", "recurso_razoes": "A multa desconsidera a boa-fé e o porte da empresa."})
        yield self.at(11, 10)
        self.step(result, "examinar_admissibilidade", "analista", {
            "recurso_admissivel": "sim", "admissibilidade_fundamentacao": "Tempestivo, assinado por advogada "
                                                                          "constituída, com as razões do pedido."})

    # -- conciliation hearings (audiencia) ----------------------------------------------------------------
    def schedule(self, day: dt.date, place: str) -> dict[str, str]:
        return {"audiencia_data": day.isoformat(), "audiencia_horario": "14:30",
                "audiencia_modalidade": "videoconferencia" if place.startswith("https") else "presencial",
                "audiencia_local": place, "audiencia_observacoes": "Trazer nota fiscal, contrato e documento com foto."}

    def hearing_summoned(self, days_ago: int, on: dt.date, place: str) -> Iterator[dt.datetime | CaseResult]:
        yield self.at(days_ago, 10)
        result = self.runtime.start_case("audiencia", self.actors["conciliador"], self.schedule(on, place))
        yield self.at(days_ago, 10, 15)
        result = self.email_sent(result)  # the consumer's summons
        result = self.email_sent(result)  # the supplier's notice (notificacao, inside the hearing)
        yield self.at(days_ago - 1, 15)
        result = self.read(result)
        yield self.at(days_ago - 1, 16)
        # The consumer confirmed by phone: the atendente registers it on the consumer's behalf.
        yield self.step(result, "confirmar_presenca", "atendente",
                        {"audiencia_presenca": "confirmada", "audiencia_presenca_motivo": ""})

    def hearing_scheduled(self) -> Story:
        yield from self._moments(self.hearing_summoned(3, self.working_day(5), "https://video.procon.example/sala-3"))

    def hearing_to_reschedule(self) -> Story:
        """Held yesterday, the supplier's representative asked for a new date: the conciliador reschedules.
        (Started on its own, a hearing has no parties' names, which the termo needs: none is held to its end.)"""
        result = yield from self._moments(self.hearing_summoned(9, self.working_day(-1), "Sala 2 – Procon Centro"))
        yield self.at(1, 15)
        self.step(result, "realizar_audiencia", "conciliador", {
            "audiencia_ocorrencia": "redesignar", "audiencia_presentes": "Consumidor; preposto do fornecedor.",
            "audiencia_relato": "O preposto não trouxe a carta de preposição e pediu nova data; "
                                "o consumidor concordou."})


def create_demo_cases(runtime: Runtime, actors: dict[str, Actor]) -> int:
    """Cases in every procedure, in different states; does nothing when cases already exist.

    Each story's steps happen at moments chosen on the unit's calendar, then the worker runs once, so the
    demo always opens with a fired CIP deadline, a "prazo vencendo" warning, an overdue task escalated to
    the manager and a service-task incident (or, with SMTP configured, the e-mail sent), whatever today's
    date and holidays. Returns how many cases were created.
    """
    with runtime.Session() as session:
        if session.scalar(select(func.count(Case.id))):
            return 0
    demo = _Demo(runtime, actors)
    real_now = demo.real_now
    stories: list[Story] = [
        # Complaints. A CIP sent 15 days ago and never answered: its deadline fires -> analysis.
        demo.unanswered_cip(real_now - dt.timedelta(days=15), 0),
        # Closed: answered, analysed as fundamentada atendida.
        demo.closed_complaint(real_now - dt.timedelta(days=12), 1),
        # A CIP whose 10 days end tomorrow (or the next working day): the worker warns the queue.
        demo.unanswered_cip(real_now - dt.timedelta(days=9), 3),
        # Registered 7 working days ago and never contacted: its 5-working-day deadline is overdue.
        demo.registered(demo.at(7), 4),
        # Answered with a proposal two days ago: Maria (portal) accepts or refuses it.
        demo.proposal_to_evaluate(real_now - dt.timedelta(days=2), 0),
        # At the conciliation hearing.
        demo.complaint_at_hearing(real_now - dt.timedelta(days=8), 2),
        # Just registered, waiting for the preliminary contact.
        demo.registered(real_now - dt.timedelta(hours=2), 0, consumidor_nome="Paulo Henrique Costa",
                        consumidor_cpf="168.995.350-09"),
        # Inspections: a denúncia waiting for triage (analista), one at inspection (fiscal), one with an
        # irregularity found and the auto to draw up (fiscal), one whose auto was notified: the defence deadline
        # runs in the sanctioning process it called (analista).
        demo.inspection_waiting_triage(),
        demo.inspection_in_the_field(),
        demo.inspection_auto_due(),
        demo.inspection_defence_running(),
        # Sanctioning: the notice's e-mail left to the worker; notified and waiting for the ciência (atendente);
        # waiting for the first-instance decision (autoridade); the fine decided and the appeal window running
        # (analista); an appeal under analysis (recurso_multa, analista).
        demo.sanction_notice_failing(),
        demo.sanction_waiting_ciencia(),
        demo.sanction_waiting_decision(),
        demo.sanction_appeal_window(),
        demo.sanction_appeal_analysed(),
        # Hearings: scheduled in five working days (conciliador); held yesterday and to be rescheduled (conciliador).
        demo.hearing_scheduled(),
        demo.hearing_to_reschedule(),
    ]
    play(stories)
    DeadlineWorker(runtime).run_once()
    with runtime.Session() as session:
        return session.scalar(select(func.count(Case.id))) or 0

