"""The user-task commands: claim, release, reassign and complete a task, and the acting on a user
task (role check, server-side form validation, uploads, running it) that starting a case shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, insert, select, update

from engine.actors import Actor
from engine.dashboard import aggregates as dashboard_totals
from engine.errors import (
    ConflictError,
    EngineError,
    InvalidSubmission,
    NotFound,
    PermissionDenied,
    ProcedureError,
    TaskNotOpen,
)
from engine.forms.submission import UploadedFile, validate_submission
from engine.lgpd.masking import mask_submission
from engine.parties.case_parties import may_work_on
from engine.runtime.access import require_case_unit
from engine.runtime.cache import LoadedCase
from engine.runtime.cycle import CaseCycle, CaseResult, Change, procedure_failure
from engine.runtime.projections import task_role
from engine.runtime.scripting import deadline_context
from engine.runtime.statements import ATTACHMENTS, OPEN_TASK, OPEN_TASKS, TASK_FOR_COMPLETION, USERS
from engine.store.models import Attachment


class TaskCommands(CaseCycle):
    """Claim, release, reassign and complete a user task."""

    def claim(self, case_id: int, task_id: str, actor: Actor) -> None:
        """Take an open task from the role queue into ``actor``'s own list."""
        with self.db.begin() as conn:
            require_case_unit(conn, case_id, actor)
            open_task = self._open_task(conn, case_id, task_id)
            if not may_work_on(conn, case_id, actor, open_task.role):
                raise PermissionDenied(f"A tarefa '{open_task.title}' é do papel '{open_task.role}', "
                                       "que você não tem.")
            if open_task.assignee == actor.username:
                return
            claimed = conn.execute(
                update(OPEN_TASKS).where(OPEN_TASKS.c.id == open_task.id, OPEN_TASKS.c.assignee.is_(None))
                .values(assignee=actor.username)
            ).rowcount
            if not claimed:
                holder = conn.scalar(select(OPEN_TASKS.c.assignee).where(OPEN_TASKS.c.id == open_task.id))
                raise ConflictError(f"A tarefa '{open_task.title}' já foi assumida por {holder or 'outra pessoa'}.")
            dashboard_totals.holder_changed(conn, case_id, task_id, None, actor.username)
            self._write_audit(conn, case_id, actor, [Change(
                "tarefa_assumida", f"Tarefa assumida: {open_task.title}", open_task.spec_name, task_id)])

    def release(self, case_id: int, task_id: str, actor: Actor) -> None:
        """Give an assigned task back to its role queue (its assignee or a manager)."""
        with self.db.begin() as conn:
            require_case_unit(conn, case_id, actor)
            open_task = self._open_task(conn, case_id, task_id)
            if open_task.assignee is None:
                return
            if open_task.assignee != actor.username and not actor.has_role("gestor"):
                raise PermissionDenied(f"A tarefa '{open_task.title}' está com {open_task.assignee}; "
                                       "só essa pessoa ou um gestor pode liberá-la.")
            conn.execute(update(OPEN_TASKS).where(OPEN_TASKS.c.id == open_task.id).values(assignee=None))
            dashboard_totals.holder_changed(conn, case_id, task_id, open_task.assignee, None)
            self._write_audit(conn, case_id, actor, [Change(
                "tarefa_liberada", f"Tarefa devolvida à fila: {open_task.title}", open_task.spec_name, task_id,
                {"assignee_anterior": open_task.assignee})])

    def reassign(self, case_id: int, task_id: str, to_username: str | None, actor: Actor, reason: str = "") -> None:
        """A manager gives an open task to someone with its role (or back to the queue: ``None``)."""
        if not actor.has_role("gestor"):
            raise PermissionDenied("Só um gestor pode redistribuir tarefas.")
        with self.db.begin() as conn:
            unit = require_case_unit(conn, case_id, actor)
            open_task = self._open_task(conn, case_id, task_id)
            if to_username is not None:
                person = conn.execute(select(USERS.c.username, USERS.c.full_name, USERS.c.roles, USERS.c.active,
                                             USERS.c.unit).where(USERS.c.username == to_username)).first()
                if person is None or not person.active:
                    raise NotFound(f"Pessoa “{to_username}” não encontrada ou inativa.")
                target = Actor(person.username, person.full_name, frozenset((person.roles or "").split()), person.unit)
                if open_task.role not in target.roles and "admin" not in target.roles:
                    raise PermissionDenied(f"{person.full_name} não tem o papel “{open_task.role}” exigido pela "
                                           f"tarefa “{open_task.title}”.")
                if not target.sees_unit(unit):
                    raise PermissionDenied(f"{person.full_name} trabalha na unidade {person.unit}, não na "
                                           f"unidade {unit} deste caso. Para levar o caso a outra unidade, "
                                           "transfira-o.")
            if open_task.assignee == to_username:
                return
            conn.execute(update(OPEN_TASKS).where(OPEN_TASKS.c.id == open_task.id).values(assignee=to_username))
            dashboard_totals.holder_changed(conn, case_id, task_id, open_task.assignee, to_username)
            target = to_username or f"fila de {open_task.role}"
            self._write_audit(conn, case_id, actor, [Change(
                "tarefa_redistribuida", f"Tarefa “{open_task.title}” redistribuída para {target}"
                + (f": {reason.strip()}" if reason and reason.strip() else ""), open_task.spec_name, task_id,
                {"de": open_task.assignee, "para": to_username, "motivo": reason})])

    def complete_task(self, case_id: int, task_id: str, actor: Actor, values: Mapping[str, str],
                      files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Complete a user task with a form submission (validated here, on the server).

        Raises :class:`InvalidSubmission` (nothing saved, the typed values kept in the result),
        :class:`TaskNotOpen` / :class:`ConflictError` when someone else got there first, and
        :class:`PermissionDenied` when the task is not this person's to complete.
        """
        with self.db.connect() as conn:
            row = conn.execute(TASK_FOR_COMPLETION, {"task_id": task_id}).first()
            if row is None or row.case_id != case_id:
                require_case_unit(conn, case_id, actor)  # a case of another unit is not found, not "done"
                raise TaskNotOpen(self._already_done_message(conn, case_id, task_id, None))
            require_case_unit(conn, case_id, actor, row.unit)
            if row.assignee and row.assignee != actor.username:
                raise PermissionDenied(f"A tarefa '{row.title}' está com {row.assignee}. "
                                       "Peça para liberá-la antes de concluir.")
            if not may_work_on(conn, case_id, actor, row.role):
                raise PermissionDenied(f"A tarefa '{row.title}' é do papel '{row.role}', que você não tem.")
            loaded = self._checkout(conn, case_id, row.version)
            try:
                try:
                    task = loaded.workflow.get_task_from_id(UUID(task_id))
                except (WorkflowException, ValueError) as error:
                    raise NotFound("Tarefa não encontrada neste caso.") from error
                if task.state != TaskState.READY or not isinstance(task.task_spec, UserTask):
                    raise TaskNotOpen(self._already_done_message(conn, case_id, task_id, row.title))
                cleaned = self._validate(task, values, files)
            except EngineError:
                self.cache.put(loaded)  # nothing was changed: keep the workflow deserialized
                raise
            with deadline_context(self.calendars, loaded.unit):
                change = self._run_user_task(conn, loaded, task, actor, cleaned, files)
                return self._commit(conn, loaded, actor, [change])

    def _open_task(self, conn: Connection, case_id: int, task_id: str) -> Any:
        open_task = conn.execute(OPEN_TASK, {"task_id": task_id}).first()
        if open_task is None or open_task.case_id != case_id:
            raise TaskNotOpen(self._already_done_message(conn, case_id, task_id, None))
        return open_task

    @staticmethod
    def _require_role(actor: Actor, task: Task) -> None:
        groups = task.task_spec.extensions.get("candidateGroups") or ""
        roles = [g.strip() for g in groups.split(",") if g.strip()] or [task_role(task.task_spec)]
        if not any(actor.may_perform(role) for role in roles):
            raise PermissionDenied(f"A tarefa '{task.task_spec.bpmn_name}' é do papel '{roles[0]}', "
                                   "que você não tem.")

    def _validate(self, task: Task, values: Mapping[str, str], files: Mapping[str, UploadedFile] | None
                  ) -> dict[str, Any]:
        form = self.forms.get(task.task_spec.extensions["formKey"])
        result = validate_submission(form, values, files or {})
        if not result.ok:
            raise InvalidSubmission(result)
        return result.data

    def _run_user_task(self, conn: Connection, loaded: LoadedCase, task: Task, actor: Actor,
                       cleaned: dict[str, Any], files: Mapping[str, UploadedFile] | None) -> Change:
        data = dict(cleaned)
        if files:
            form = self.forms.get(task.task_spec.extensions["formKey"])
            for form_field in form.fields:
                upload = files.get(form_field.name) if form_field.type == "file" else None
                if upload is None:
                    continue
                row = Attachment.from_upload(upload, loaded.case_id, actor.username)
                try:
                    row.id = conn.execute(insert(ATTACHMENTS).values(
                        sha256=row.sha256, filename=row.filename, content_type=row.content_type, size=row.size,
                        data=row.data, case_id=row.case_id, uploaded_by=row.uploaded_by, created_at=row.created_at,
                    ).returning(ATTACHMENTS.c.id)).scalar_one()
                except BaseException:
                    conn.rollback()
                    raise
                data[form_field.name] = row.reference()
        task.set_data(**data)
        try:
            task.run()
        except WorkflowException as error:
            conn.rollback()
            raise ProcedureError(procedure_failure(task, error)) from error
        # the legal record of the act, with the person's CPF, e-mail and phone masked (the case data keeps them)
        types = {f.name: f.type for f in self.forms.get(task.task_spec.extensions["formKey"]).fields}
        return Change("tarefa_concluida", f"Tarefa concluída: {task.task_spec.bpmn_name}", task.task_spec.name,
                      str(task.id), {"dados": mask_submission(types, data), "actor_name": actor.display_name})
