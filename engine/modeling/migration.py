"""Migration of running cases to another version of their procedure, previewed or executed.

A case moves when its current position (the tasks it waits on) exists unchanged in the target
version and every element its stored state mentions exists there too (:func:`position_problem`);
moving re-points ``cases.definition_id`` under the case's optimistic version check, one case per
transaction, and leaves the stored state as it is. The run is logged as a
:class:`~engine.modeling.models.DeploymentEvent`; each moved case gets an audit event ("migrado_versao").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import OperationalError

from engine import clock
from engine.errors import NotFound
from engine.modeling.definitions import LoadedSpec
from engine.modeling.models import DeploymentEvent
from engine.modeling.parsing import ExternalServiceTask
from engine.runtime.projections import task_role
from engine.store import audit_chain
from engine.store.models import Case, ProcessDefinition
from engine.store.serialization import load_state

if TYPE_CHECKING:
    from engine.runtime import Runtime

DEFINITIONS = ProcessDefinition.__table__
CASES = Case.__table__

#: Task states that make up a case's current position.
_POSITION_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED


# -- what a migration reports ----------------------------------------------------------------------
@dataclass(frozen=True)
class MovedCase:
    case_id: int
    protocol: str


@dataclass(frozen=True)
class CaseNotMoved:
    case_id: int
    protocol: str
    #: Why the case stays where it is, for people (pt-BR).
    reason: str


@dataclass
class MigrationReport:
    """Which running cases moved to the new version, and why the others did not."""

    process_id: str
    from_version: int
    to_version: int
    moved: list[MovedCase] = field(default_factory=list)
    not_moved: list[CaseNotMoved] = field(default_factory=list)

    def summary(self) -> str:
        moved, kept = len(self.moved), len(self.not_moved)
        return (f"Migração da versão {self.from_version} para a versão {self.to_version}: "
                f"{moved} caso{'s' if moved != 1 else ''} migrado{'s' if moved != 1 else ''}, "
                f"{kept} caso{'s' if kept != 1 else ''} mantido{'s' if kept != 1 else ''} na versão "
                f"{self.from_version}.")


# -- what must not change under a waiting case ------------------------------------------------------
def _label(spec: Any) -> str:
    name = getattr(spec, "bpmn_name", None) or spec.name
    return f"“{name}” ({spec.name})" if name != spec.name else f"“{spec.name}”"


def _signature(spec: Any) -> dict[str, str]:
    """What must not change for a case waiting on this task to move to another version."""
    signature = {"tipo do elemento": type(spec).__name__}
    extensions = getattr(spec, "extensions", None) or {}
    if isinstance(spec, UserTask):
        signature["formulário (formKey)"] = extensions.get("formKey") or ""
        signature["papel"] = task_role(spec) or ""
        signature["grupos (candidateGroups)"] = extensions.get("candidateGroups") or ""
        signature["usuários (candidateUsers)"] = extensions.get("candidateUsers") or ""
        signature["prazo (dueDate)"] = extensions.get("dueDate") or ""
    if isinstance(spec, ExternalServiceTask):
        signature["tópico do serviço (topic)"] = extensions.get("topic") or ""
    if isinstance(spec, SubWorkflowTask):
        signature["processo chamado"] = str(spec.spec)
    event_definition = getattr(spec, "event_definition", None)
    if event_definition is not None:
        signature["evento"] = type(event_definition).__name__
        signature["expressão do evento"] = str(getattr(event_definition, "expression", "") or "")
        signature["nome do evento"] = str(getattr(event_definition, "name", "") or "")
    if hasattr(spec, "cancel_activity"):
        signature["interrompe a tarefa"] = "sim" if spec.cancel_activity else "não"
    return signature


# -- preview and execution -------------------------------------------------------------------------
def migrate_cases(runtime: Runtime, process_id: str, from_version: int, to_version: int, username: str,
                  case_ids: Iterable[int] | None = None) -> MigrationReport:
    """Move running cases of ``from_version`` (or only ``case_ids``) to ``to_version`` when their
    current position — the tasks they wait on — exists unchanged there.

    Each case moves in its own transaction: ``cases.definition_id`` is re-pointed under the
    case's version check, and nothing else of the case is rewritten. A case changed meanwhile,
    or whose position or history does not fit the new version, stays and is reported.
    """
    with runtime.db.connect() as conn:
        source = _definition_row(conn, process_id, from_version)
        target = _definition_row(conn, process_id, to_version)
        old_spec = runtime.definitions.spec_by_id(conn, source.id)
        new_spec = runtime.definitions.spec_by_id(conn, target.id)
        query = (select(CASES.c.id, CASES.c.protocol)
                 .where(CASES.c.definition_id == source.id, CASES.c.status != "encerrado").order_by(CASES.c.id))
        if case_ids is not None:
            query = query.where(CASES.c.id.in_(list(case_ids)))
        candidates = conn.execute(query).all()
    report = MigrationReport(process_id, from_version, to_version)
    for candidate in candidates:
        reason = _migrate_one(runtime, candidate.id, source, target, old_spec, new_spec, username)
        if reason is None:
            report.moved.append(MovedCase(candidate.id, candidate.protocol))
        else:
            report.not_moved.append(CaseNotMoved(candidate.id, candidate.protocol, reason))
    with runtime.Session.begin() as session:
        session.add(DeploymentEvent(
            process_id=process_id, definition_id=target.id, action="migracao", actor=username, at=clock.now(),
            details={"descricao": report.summary(), "de_versao": from_version, "para_versao": to_version,
                     "migrados": [c.case_id for c in report.moved],
                     "nao_migrados": [{"caso": c.case_id, "motivo": c.reason} for c in report.not_moved]}))
    return report


def preview_migration(runtime: Runtime, process_id: str, from_version: int, to_version: int) -> MigrationReport:
    """Which running cases of ``from_version`` could move to ``to_version`` now (``moved``) and
    why the others could not (``not_moved``), by the same :func:`position_problem` check as
    :func:`migrate_cases`; nothing is written."""
    with runtime.db.connect() as conn:
        source = _definition_row(conn, process_id, from_version)
        target = _definition_row(conn, process_id, to_version)
        old_spec = runtime.definitions.spec_by_id(conn, source.id)
        new_spec = runtime.definitions.spec_by_id(conn, target.id)
        rows = conn.execute(select(CASES.c.id, CASES.c.protocol, CASES.c.state)
                            .where(CASES.c.definition_id == source.id, CASES.c.status != "encerrado")
                            .order_by(CASES.c.id)).all()
    report = MigrationReport(process_id, from_version, to_version)
    for row in rows:
        reason = position_problem(row.state, old_spec, new_spec, to_version)
        if reason is None:
            report.moved.append(MovedCase(row.id, row.protocol))
        else:
            report.not_moved.append(CaseNotMoved(row.id, row.protocol, reason))
    return report


def _migrate_one(runtime: Runtime, case_id: int, source: Any, target: Any, old_spec: LoadedSpec,
                 new_spec: LoadedSpec, username: str) -> str | None:
    """Move one case; None when it moved, else why it did not."""
    with runtime.db.connect() as conn:
        row = conn.execute(select(CASES.c.version, CASES.c.state, CASES.c.status, CASES.c.definition_id)
                           .where(CASES.c.id == case_id)).first()
        if row is None or row.definition_id != source.id or row.status == "encerrado":
            conn.rollback()
            return "o caso foi encerrado ou mudou de versão durante a migração"
        reason = position_problem(row.state, old_spec, new_spec, target.version)
        if reason is not None:
            conn.rollback()
            return reason
        try:
            moved = conn.execute(
                update(CASES).where(CASES.c.id == case_id, CASES.c.version == row.version,
                                    CASES.c.definition_id == source.id)
                .values(definition_id=target.id, version=CASES.c.version + 1)).rowcount
            if moved != 1:
                conn.rollback()
                return ("o caso foi alterado por outra pessoa enquanto era migrado; nada foi mudado nele "
                        "(tente migrar de novo)")
            audit_chain.append(conn, [dict(
                case_id=case_id, at=clock.now(), actor=username, action="migrado_versao", task_spec=None,
                task_id=None,
                description=f"Caso migrado da versão {source.version} para a versão {target.version} "
                            f"de “{target.name}”"[:500],
                details={"de_versao": source.version, "para_versao": target.version,
                         "definition_id_anterior": source.id, "definition_id": target.id})])
            conn.commit()
        except OperationalError as error:
            conn.rollback()
            if "deadlock" not in str(error).lower() and "locked" not in str(error).lower():
                raise
            return "outra operação alterava o caso ao mesmo tempo; nada foi mudado nele (tente migrar de novo)"
        except BaseException:
            conn.rollback()
            raise
    runtime.cache.take(case_id, -1)  # drop the cached workflow: it holds the old spec
    return None


def position_problem(state: str, old: LoadedSpec, new: LoadedSpec, to_version: int) -> str | None:
    """Why a case with this stored state cannot run on ``new`` without rewriting it (None: it can).

    The tasks it waits on must exist in ``new`` with the same type, form, role, due date, topic,
    called process and event; every element its stored state mentions (done or predicted) must
    exist there too, or the state could not be read on the new version.
    """
    stored = json.loads(state)
    workflows = [(stored.get("tasks", {}), old.spec, new.spec, None)]
    for sub in (stored.get("subprocesses") or {}).values():
        spec_name = sub.get("spec")
        old_sub, new_sub = old.subprocess_specs.get(spec_name), new.subprocess_specs.get(spec_name)
        if old_sub is None:
            return f"o estado do caso menciona o subprocesso '{spec_name}', que a versão atual dele não tem"
        if new_sub is None:
            return f"o caso está no subprocesso '{spec_name}', que não existe na versão {to_version}"
        workflows.append((sub.get("tasks", {}), old_sub, new_sub, spec_name))
    unknown: set[str] = set()
    for tasks, old_process, new_process, sub_name in workflows:
        where = f" (no subprocesso '{sub_name}')" if sub_name else ""
        for task in tasks.values():
            name = task["task_spec"]
            new_task = new_process.task_specs.get(name)
            if not task["state"] & _POSITION_STATES:
                if new_task is None:
                    unknown.add(name)
                continue
            old_task = old_process.task_specs.get(name)
            if old_task is None:
                return f"o estado do caso menciona '{name}', que a versão atual dele não tem"
            if new_task is None:
                return (f"o caso está em {_label(old_task)}{where}, que não existe na versão {to_version}")
            before, after = _signature(old_task), _signature(new_task)
            changes = [f"{key}: '{before.get(key, '')}' → '{after.get(key, '')}'"
                       for key in dict.fromkeys([*before, *after]) if before.get(key, "") != after.get(key, "")]
            if changes:
                return (f"o caso está em {_label(old_task)}{where}, que mudou na versão {to_version} "
                        f"({'; '.join(changes)})")
    if unknown:
        names = ", ".join(sorted(unknown))
        return (f"o histórico ou a continuação prevista do caso passa por elementos que não existem na versão "
                f"{to_version} ({names}); o estado gravado não poderia ser lido nela")
    try:
        load_state(state, new.spec, new.subprocess_specs)
    except Exception as error:  # noqa: BLE001 - any failure means "cannot move", reported as such
        return f"o estado do caso não pôde ser lido na versão {to_version}: {error}"
    return None


def _definition_row(conn: Connection, process_id: str, version: int) -> Any:
    row = conn.execute(select(DEFINITIONS.c.id, DEFINITIONS.c.name, DEFINITIONS.c.version)
                       .where(DEFINITIONS.c.process_id == process_id, DEFINITIONS.c.version == version)).first()
    if row is None:
        raise NotFound(f"A versão {version} do processo '{process_id}' não existe.")
    return row
