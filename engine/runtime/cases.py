"""Starting a case, setting up the database, and the forms a process asks for (start form, form order)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import insert

from engine import clock
from engine.actors import Actor
from engine.calendar.service import ensure_default_unit
from engine.dashboard import aggregates as dashboard_totals
from engine.errors import EngineError, NotFound, PermissionDenied
from engine.forms.schema import FormDefinition
from engine.forms.submission import UploadedFile
from engine.parties.case_parties import backfill_case_parties, parties_of
from engine.runtime.cache import LoadedCase
from engine.runtime.cycle import CaseResult, Change
from engine.runtime.projections import TaskInfo
from engine.runtime.scripting import deadline_context
from engine.runtime.statements import CASES
from engine.runtime.tasks import TaskCommands
from engine.schema import create_schema
from engine.store import audit_chain
from engine.store.models import OpenTask, ProcessDefinition
from engine.store.protocol import next_protocol


class CaseCommands(TaskCommands):
    """Set up the database, start a case, and read a process's forms.

    Starting a case with values completes its first user task in the same transaction, so this
    family builds on the task commands.
    """

    # -- set-up -----------------------------------------------------------------------------
    def init_db(self, actor: str = "sistema") -> list[ProcessDefinition]:
        """Create the tables and deploy every diagram in ``workflows/`` (new versions only)."""
        create_schema(self.db)
        with self.db.begin() as conn:
            backfill_case_parties(conn)
            dashboard_totals.backfill(conn)  # a database from before the Painel's aggregate tables
            audit_chain.backfill(conn)  # a database from before the audit hash chain: seal its history once
        with self.Session.begin() as session:
            ensure_default_unit(session, code=self.config.unit)
            return self.definitions.deploy_directory(session, actor)

    # -- commands ---------------------------------------------------------------------------
    def start_case(self, process_id: str, actor: Actor, values: Mapping[str, str] | None = None,
                   files: Mapping[str, UploadedFile] | None = None, unit: str | None = None) -> CaseResult:
        """Start a case on the latest version of ``process_id``.

        With ``values``, the first user task (e.g. the registration form) is completed by
        ``actor`` in the same transaction, so an abandoned or invalid form leaves no case behind.
        """
        case_unit = unit or actor.unit or self.config.unit
        if not actor.is_party and not actor.sees_unit(case_unit):
            raise PermissionDenied(f"Você só pode abrir casos na sua unidade ({actor.unit}); um caso de outra "
                                   "unidade chega a ela por transferência.")
        self.calendars.for_unit(case_unit)  # an unknown unit is refused here, before anything is written
        with self.db.connect() as conn, deadline_context(self.calendars, case_unit):
            definition = self.definitions.latest_ref(conn, process_id)
            loaded_spec = self.definitions.spec_by_id(conn, definition.id)
            workflow = BpmnWorkflow(loaded_spec.spec, loaded_spec.subprocess_specs, script_engine=self.script_engine)
            workflow.do_engine_steps()
            first_task = None
            cleaned: dict[str, Any] = {}
            if values is not None:
                first_task = self._single_ready_user_task(workflow)
                self._require_role(actor, first_task)
                cleaned = self._validate(first_task, values, files)
                if actor.is_party and not parties_of(cleaned) & (actor.parties | actor.limited):
                    raise PermissionDenied("Você só pode abrir um caso em seu próprio nome (o CPF ou CNPJ do "
                                           "formulário precisa ser o da sua conta).")
            now = clock.now()
            try:
                protocol = next_protocol(conn, case_unit)
                case_id = conn.execute(insert(CASES).values(
                    protocol=protocol, unit=case_unit, definition_id=definition.id, process_id=process_id,
                    title=definition.name, status="aberto", summary={}, data={}, state="", state_format=1,
                    version=0, created_by=actor.username, created_at=now, updated_at=now,
                ).returning(CASES.c.id)).scalar_one()
            except BaseException:
                conn.rollback()
                raise
            loaded = LoadedCase(case_id, protocol, 0, "aberto", definition.name, {}, {}, workflow, {}, {},
                                unit=case_unit)
            changes = [Change("iniciado", f"Caso iniciado: {definition.name} (versão {definition.version})",
                              details={"definition_version": definition.version})]
            if first_task is not None:
                changes.append(self._run_user_task(conn, loaded, first_task, actor, cleaned, files))
            return self._commit(conn, loaded, actor, changes)

    # -- reading without changing -----------------------------------------------------------
    def form_for(self, open_task: OpenTask | TaskInfo) -> FormDefinition:
        if not open_task.form_key:
            raise NotFound(f"A tarefa '{open_task.title}' não tem formulário.")
        return self.forms.get(open_task.form_key)

    def first_form(self, process_id: str) -> tuple[FormDefinition, str]:
        """The form of the first user task of a process (the start form) and that task's name."""
        with self.db.connect() as conn:
            definition = self.definitions.latest_ref(conn, process_id)
            loaded = self.definitions.spec_by_id(conn, definition.id)
        workflow = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=self.script_engine)
        workflow.do_engine_steps()
        task = self._single_ready_user_task(workflow)
        return self.forms.get(task.task_spec.extensions["formKey"]), task.task_spec.bpmn_name or ""

    def form_order(self, definition: ProcessDefinition) -> list[str]:
        """The form keys of a process's user tasks in diagram order (to show case data in order)."""
        with self.db.connect() as conn:
            spec = self.definitions.spec_by_id(conn, definition.id).spec
        keys = [t.extensions.get("formKey") for t in spec.task_specs.values() if isinstance(t, UserTask)]
        return list(dict.fromkeys(k for k in keys if k))

    @staticmethod
    def _single_ready_user_task(workflow: BpmnWorkflow) -> Task:
        ready = [t for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTask)]
        if len(ready) != 1:
            raise EngineError("O processo não começa com exatamente uma tarefa de usuário.")
        return ready[0]
