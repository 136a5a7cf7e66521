"""Firing the BPMN timers whose due time has passed, case by case, and reporting a case stuck on its diagram."""

from __future__ import annotations

from sqlalchemy import insert, select

from engine import clock
from engine.actors import SYSTEM
from engine.errors import ConflictError, ProcedureError
from engine.runtime.cycle import CaseCycle
from engine.runtime.projections import waiting_timers
from engine.runtime.scripting import deadline_context
from engine.runtime.statements import CLAIM_CASE, CLAIM_DUE_TIMERS, DUE_CASES, NOTIFICATIONS


class TimerCommands(CaseCycle):
    """Fire due timers."""

    def fire_due_timers(self, limit: int = 100) -> int:
        """Fire the BPMN timers whose due time has passed; returns how many cases advanced.

        A case changed concurrently is skipped and picked up by the next call.
        """
        with self.db.connect() as conn:
            case_ids = list(conn.scalars(DUE_CASES, {"now": clock.now(), "limit": limit}))
        advanced = 0
        for case_id in case_ids:
            try:
                advanced += self._fire_case_timers(case_id)
            except ConflictError:
                continue
            except ProcedureError as error:  # one broken diagram must not stop every other case's timers
                self._report_procedure_error(case_id, str(error))
        return advanced

    def _report_procedure_error(self, case_id: int, message: str) -> None:
        """Tell the admins once (an unread notice per case) that a case is stuck on its diagram."""
        with self.db.begin() as conn:
            already = conn.scalar(select(NOTIFICATIONS.c.id).where(
                NOTIFICATIONS.c.case_id == case_id, NOTIFICATIONS.c.kind == "erro_procedimento",
                NOTIFICATIONS.c.read_at.is_(None)).limit(1))
            if already is None:
                conn.execute(insert(NOTIFICATIONS).values(
                    case_id=case_id, role="admin", kind="erro_procedimento", message=message[:500],
                    created_at=clock.now()))

    def _fire_case_timers(self, case_id: int) -> bool:
        """Let SpiffWorkflow fire the case's due timers; write only if one actually went off.

        The due deadline rows are claimed first (``FOR UPDATE SKIP LOCKED`` on PostgreSQL): a
        second worker on the same case skips it instead of waiting, and the version check makes
        a double firing impossible even without the lock (SQLite).
        """
        with self.db.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A firing is re-run if lost, so it need not wait for the WAL flush: atomicity is
                # kept (all or nothing), only the last few milliseconds could be redone after a crash.
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            # Lock order: the case row first, then its deadline rows — the order a person's command
            # writes them in — so a timer and a person acting at once never deadlock.
            version = conn.scalar(CLAIM_CASE, {"case_id": case_id})
            if version is None:
                conn.rollback()
                return False  # a person's command holds the case now: the next round retries
            if not conn.execute(CLAIM_DUE_TIMERS, {"case_id": case_id, "now": clock.now()}).first():
                conn.rollback()
                return False  # fired already, or another worker holds it
            loaded = self._checkout(conn, case_id, version)
            with deadline_context(self.calendars, loaded.unit):
                loaded.workflow.refresh_timers()
                legal = {k for k, t in loaded.pending_timers.items() if t.kind == "legal"}
                if legal <= waiting_timers(loaded.workflow).keys():
                    conn.rollback()
                    self.cache.put(loaded)  # nothing changed: the cached copy is still this version
                    return False
                self._commit(conn, loaded, SYSTEM, [])
            return True
