"""Recounting pending deadlines on the current calendar after a closure or a suspension changes."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from engine.actors import Actor
from engine.calendar.rules import DeadlineRule
from engine.errors import ConflictError
from engine.runtime.cycle import CaseCycle, Change
from engine.runtime.scripting import deadline_context
from engine.runtime.statements import CASE_VERSION, DEADLINES
from engine.store.protocol import AGENCY_TZ


class RecountCommands(CaseCycle):
    """Recalculate deadlines."""

    def recalculate_deadlines(self, unit: str | None, reason: str, actor: Actor) -> int:
        """Count the pending deadlines of ``unit`` (every unit: ``None``) again on the current calendar.

        Run after a closure or a suspension of deadlines is added or removed: a deadline whose
        last day moved gets its new due date (timer, task and projection), and the audit trail of
        its case says from when to when and why. Returns how many deadlines moved.
        """
        query = (select(DEADLINES.c.case_id).distinct()
                 .where(DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None),
                        DEADLINES.c.legal_kind.is_not(None)))
        if unit is not None:
            query = query.where(DEADLINES.c.unit == unit)
        with self.db.connect() as conn:
            case_ids = sorted(conn.scalars(query))
        moved = 0
        for case_id in case_ids:
            for _attempt in range(3):
                try:
                    moved += self._recalculate_case(case_id, reason, actor)
                    break
                except ConflictError:
                    continue  # someone changed the case meanwhile: count again on the fresh state
        return moved

    def _recalculate_case(self, case_id: int, reason: str, actor: Actor) -> int:
        with self.db.connect() as conn:
            version = conn.scalar(CASE_VERSION, {"case_id": case_id})
            if version is None:
                return 0
            loaded = self._checkout(conn, case_id, version)
            calendar = self.calendars.for_unit(loaded.unit)
            changes: list[Change] = []
            for task_id, pending in loaded.pending_timers.items():
                if not (pending.legal_kind and pending.mode and pending.days is not None and pending.starts_at):
                    continue
                rule = DeadlineRule(pending.legal_kind, pending.days, pending.mode, pending.legal_basis)
                new_due = calendar.due_at(pending.starts_at, rule)
                if new_due == pending.due_at:
                    continue
                task = loaded.workflow.get_task_from_id(UUID(task_id))
                if pending.kind == "legal":
                    task._set_internal_data(event_value=new_due.isoformat(), event_fired=False)
                else:
                    task._set_internal_data(sla_due=new_due.isoformat())
                counted = dict(task._get_internal_data("prazo") or {})
                counted["due_at"] = new_due.isoformat()
                task._set_internal_data(prazo=counted)
                old_day = pending.due_at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y")
                new_day = new_due.astimezone(AGENCY_TZ).strftime("%d/%m/%Y")
                changes.append(Change(
                    "prazo_recalculado", f"{pending.name}: vencimento passou de {old_day} para {new_day} ({reason})",
                    pending.spec_name, task_id, {"de": pending.due_at.isoformat(), "para": new_due.isoformat(),
                                                 "motivo": reason}))
            if not changes:
                conn.rollback()
                self.cache.put(loaded)
                return 0
            with deadline_context(self.calendars, loaded.unit):
                self._commit(conn, loaded, actor, changes)
            return len(changes)
