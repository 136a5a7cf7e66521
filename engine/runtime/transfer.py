"""Moving a case to another unit: the only way a case changes units, audited, in one transaction.

Who: a manager of the case's unit (sending it away) or a state-level role; never someone who does not
see the case (:mod:`engine.runtime.access`). What moves: the case row (its version goes up, so a cached
workflow of the old unit is never reused), its running deadlines and pending service jobs (the new
unit's Painel and worker see them), and its share of the Painel's aggregates. Open tasks held by
people of the old unit go back to the role queue (of the new unit). Deadlines already running keep
their due dates — they were counted and notified on the old unit's calendar; deadlines that start
after the transfer count on the new unit's. The protocol number stays (it names the case for life).
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, select, update

from engine import clock
from engine.actors import Actor
from engine.dashboard import aggregates as dashboard_totals
from engine.errors import ConflictError, EngineError, NotFound, PermissionDenied
from engine.roles import STATE_LEVEL_ROLES
from engine.runtime.access import require_case_unit
from engine.runtime.cycle import CaseCycle, Change
from engine.runtime.statements import CASE, CASES, DEADLINES, JOBS, OPEN_TASKS, USERS


class TransferCommands(CaseCycle):
    """Transfer a case between units."""

    def transfer(self, case_id: int, to_unit: str, actor: Actor, reason: str) -> None:
        """Move the case to ``to_unit`` for ``reason`` (required); raises :class:`NotFound` for a case the
        actor does not see or an unknown unit, :class:`PermissionDenied` for someone who may not transfer."""
        reason = (reason or "").strip()
        to_unit = (to_unit or "").strip().upper()
        with self.db.begin() as conn:
            case = conn.execute(CASE, {"case_id": case_id}).first()
            if case is None:
                raise NotFound("Caso não encontrado.")
            require_case_unit(conn, case_id, actor, case.unit)
            if actor.is_party or not (actor.is_state_level or actor.has_role("gestor")):
                raise PermissionDenied("Só um gestor da unidade do caso (ou da gestão estadual) pode transferi-lo.")
            if not reason:
                raise EngineError("Informe o motivo da transferência.")
            if to_unit == case.unit:
                raise EngineError(f"O caso já está na unidade {case.unit}.")
            if case.status == "encerrado":
                raise EngineError("Um caso encerrado não é transferido: ele fica na unidade que o decidiu.")
            self.calendars.for_unit(to_unit)  # an unknown unit is refused (NotFound) before anything is written
            now = clock.now()
            # the version check first: a concurrent command loses here (and the cached workflow is never reused)
            locked = conn.execute(update(CASES).where(CASES.c.id == case_id, CASES.c.version == case.version)
                                  .values(version=case.version + 1, updated_at=now)).rowcount
            if locked != 1:
                raise ConflictError("Outra pessoa alterou este caso ao mesmo tempo. Nada foi transferido; "
                                    "recarregue a página e tente de novo.")
            released = self._release_old_unit_holders(conn, case_id, to_unit)
            conn.execute(update(CASES).where(CASES.c.id == case_id).values(unit=to_unit))
            conn.execute(update(DEADLINES).where(DEADLINES.c.case_id == case_id, DEADLINES.c.outcome.is_(None))
                         .values(unit=to_unit))
            conn.execute(update(JOBS).where(JOBS.c.case_id == case_id, JOBS.c.status.in_(("pendente", "incidente")))
                         .values(unit=to_unit))
            dashboard_totals.case_moved(conn, case_id, case.unit)
            description = f"Caso transferido da unidade {case.unit} para {to_unit}: {reason}"
            self._write_audit(conn, case_id, actor, [Change(
                "caso_transferido", description,
                details={"de": case.unit, "para": to_unit, "motivo": reason, "tarefas_devolvidas": released,
                         "actor_name": actor.display_name})], now)

    @staticmethod
    def _release_old_unit_holders(conn: Connection, case_id: int, to_unit: str) -> list[dict[str, str]]:
        """Give back to the queue the open tasks held by people who do not work in ``to_unit``
        (while the case still names its old unit: the Painel moves their deadlines to "no one" there)."""
        held = conn.execute(select(OPEN_TASKS.c.id, OPEN_TASKS.c.task_id, OPEN_TASKS.c.title, OPEN_TASKS.c.assignee,
                                   USERS.c.unit, USERS.c.roles)
                            .select_from(OPEN_TASKS.outerjoin(USERS, USERS.c.username == OPEN_TASKS.c.assignee))
                            .where(and_(OPEN_TASKS.c.case_id == case_id, OPEN_TASKS.c.assignee.is_not(None)))
                            .order_by(OPEN_TASKS.c.id)).all()
        released = []
        for row in held:
            if row.unit == to_unit or set((row.roles or "").split()) & STATE_LEVEL_ROLES:
                continue
            conn.execute(update(OPEN_TASKS).where(OPEN_TASKS.c.id == row.id).values(assignee=None))
            dashboard_totals.holder_changed(conn, case_id, row.task_id, row.assignee, None)
            released.append({"tarefa": row.title, "com": row.assignee})
        return released
