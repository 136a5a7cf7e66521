"""The tamper-evident record: every case's audit events form a SHA-256 hash chain.

Writing. :func:`append` is the one way an audit event is written: it inserts the events and, in the
same transaction, *seals* them onto their case's chain — each seal (``audit_seals``) holds the event's
position in the chain, the previous event's id and hash, and its own hash, a SHA-256 over a canonical
JSON of the event's columns (id, case, time in UTC, actor, action, task, description, details with
sorted keys) plus the previous hash. The chain's end (``audit_heads``: how many events, the last one
and its hash) is read ``FOR UPDATE`` first, so two transactions never fork a chain on PostgreSQL
(SQLite serializes writers anyway, and ``UNIQUE (case_id, position)`` refuses a fork in any case).
Cost per commit: the head read, one insert of the seals and the head update, beside the events' insert.

Only the events :func:`append` itself inserted are sealed — a row put into ``audit_events`` any
other way stays unsealed and is reported as *inserted* for ever; nothing is sealed "on the way".
The chain lives in tables of its own, not in columns of ``audit_events``, so ``create_all``
(``procon init-db``) upgrades an older database; :func:`backfill` then seals its history once.

Checking. :func:`verify` (``procon audit verify``, the case page) recomputes every chain and names
each event that was *altered* (content no longer matches its seal, or its seal was rewritten),
*inserted* (no seal, or sealed past the chain's recorded end) or *removed* (a gap in the positions,
a seal whose event is gone, or a chain shorter than its head says) by id, time and action.

What it cannot do: someone who can write the database *and* recomputes every later hash and the
head leaves a consistent chain; keeping the heads' digest outside the database is what closes that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, ForeignKey, String, UniqueConstraint, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import AuditEvent, Base, Case
from engine.store.protocol import AGENCY_TZ

#: The "previous hash" of a chain's first event.
GENESIS = "0" * 64
#: Columns of an event that its hash covers, in this order in the canonical JSON (keys are sorted anyway).
HASHED = ("id", "case_id", "at", "actor", "action", "task_spec", "task_id", "description", "details")
ALTERED, INSERTED, REMOVED = "alterado", "inserido", "removido"
_BATCH = 5000
_CASES_PER_CHECK = 500


class AuditSeal(Base):
    """An event's place in its case's chain: its position, the previous event and hash, its own hash."""

    __tablename__ = "audit_seals"
    __table_args__ = (UniqueConstraint("case_id", "position", name="uq_audit_seals_case_position"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column()
    prev_event_id: Mapped[int | None] = mapped_column(default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The end of a case's chain: how many events it holds, the last one and its hash."""

    __tablename__ = "audit_heads"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, autoincrement=False)
    events: Mapped[int] = mapped_column()
    last_event_id: Mapped[int] = mapped_column()
    last_hash: Mapped[str] = mapped_column(String(64))


AUDIT, SEALS, HEADS, CASES = AuditEvent.__table__, AuditSeal.__table__, AuditHead.__table__, Case.__table__

_INSERT_EVENTS = insert(AUDIT).returning(AUDIT.c.id, sort_by_parameter_order=True)
_HEAD_FOR_UPDATE = (select(HEADS.c.events, HEADS.c.last_event_id, HEADS.c.last_hash)
                    .where(HEADS.c.case_id == bindparam("case_id")).with_for_update())
_INSERT_SEALS = insert(SEALS)
_INSERT_HEAD = insert(HEADS)
_UPDATE_HEAD = (update(HEADS).where(HEADS.c.case_id == bindparam("b_case_id"))
                .values(events=bindparam("events"), last_event_id=bindparam("last_event_id"),
                        last_hash=bindparam("last_hash")))
_EVENT_COLUMNS = (AUDIT.c.id, AUDIT.c.case_id, AUDIT.c.at, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.task_spec,
                  AUDIT.c.task_id, AUDIT.c.description, AUDIT.c.details)


# --------------------------------------------------------------------------- hashing


def _utc_iso(value: dt.datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC when read outside the ORM type
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(event: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes an event's hash is taken over: its columns and the previous hash, as sorted, compact JSON."""
    payload = {name: event.get(name) for name in HASHED}
    payload["at"] = _utc_iso(event["at"])
    payload["prev_hash"] = prev_hash
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_hash(event: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(event, prev_hash)).hexdigest()


# --------------------------------------------------------------------------- writing


def _event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The row as it will be read back: every column present, details as JSON gives them back."""
    at = event.get("at") or clock.now()
    if at.tzinfo is None:
        raise ValueError("datas gravadas no banco precisam de fuso horário")
    details = event.get("details")
    return {"case_id": event["case_id"], "at": at.astimezone(dt.UTC), "actor": event["actor"],
            "action": event["action"], "task_spec": event.get("task_spec"), "task_id": event.get("task_id"),
            "description": event.get("description") or "",
            "details": {} if details is None and "details" not in event else json.loads(json.dumps(details))}


def append(conn: Connection, events: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert audit events and seal them onto their cases' chains, in the caller's transaction.

    Each event is a mapping of ``audit_events`` columns (``case_id``, ``actor``, ``action``; ``at``
    defaults to the engine clock). Returns the new events' ids, in the order given.
    """
    if not events:
        return []
    rows = [_event_row(event) for event in events]
    ids = list(conn.execute(_INSERT_EVENTS, rows).scalars())
    by_case: dict[int, list[dict[str, Any]]] = {}
    for event_id, row in zip(ids, rows, strict=True):
        by_case.setdefault(row["case_id"], []).append({**row, "id": event_id})
    for case_id, sealed in by_case.items():
        _seal(conn, case_id, sealed)
    return ids


def _seal(conn: Connection, case_id: int, events: list[dict[str, Any]]) -> None:
    head = conn.execute(_HEAD_FOR_UPDATE, {"case_id": case_id}).first()
    position, prev_id, prev_hash = (head.events, head.last_event_id, head.last_hash) if head else (0, None, GENESIS)
    seals = []
    for event in events:
        position += 1
        digest = event_hash(event, prev_hash)
        seals.append({"event_id": event["id"], "case_id": case_id, "position": position, "prev_event_id": prev_id,
                      "prev_hash": prev_hash, "hash": digest})
        prev_id, prev_hash = event["id"], digest
    conn.execute(_INSERT_SEALS, seals)
    values = {"events": position, "last_event_id": prev_id, "last_hash": prev_hash}
    if head is None:
        conn.execute(_INSERT_HEAD, {"case_id": case_id, **values})
    else:
        conn.execute(_UPDATE_HEAD, {"b_case_id": case_id, **values})


def backfill(conn: Connection) -> int:
    """Seal the history of a database from before the chain (no head at all yet), once; returns how many
    events were sealed. Events are chained per case in id order."""
    if conn.scalar(select(HEADS.c.case_id).limit(1)) is not None:
        return 0
    if conn.scalar(select(AUDIT.c.id).limit(1)) is None:
        return 0
    sealed = 0
    seals: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    rows = conn.execute(select(*_EVENT_COLUMNS).order_by(AUDIT.c.case_id, AUDIT.c.id)).mappings().all()
    for case_id, events in _by_case(rows):
        prev_id, prev_hash = None, GENESIS
        for position, event in enumerate(events, 1):
            digest = event_hash(event, prev_hash)
            seals.append({"event_id": event["id"], "case_id": case_id, "position": position,
                          "prev_event_id": prev_id, "prev_hash": prev_hash, "hash": digest})
            prev_id, prev_hash = event["id"], digest
        heads.append({"case_id": case_id, "events": len(events), "last_event_id": prev_id, "last_hash": prev_hash})
        if len(seals) >= _BATCH:
            conn.execute(_INSERT_SEALS, seals)
            sealed += len(seals)
            seals = []
    if seals:
        conn.execute(_INSERT_SEALS, seals)
        sealed += len(seals)
    for start in range(0, len(heads), _BATCH):
        conn.execute(_INSERT_HEAD, heads[start:start + _BATCH])
    return sealed


def _by_case(rows: Iterable[Mapping[str, Any]]) -> Iterator[tuple[int, list[Mapping[str, Any]]]]:
    current: int | None = None
    group: list[Mapping[str, Any]] = []
    for row in rows:
        if row["case_id"] != current:
            if group:
                yield current, group  # type: ignore[misc]
            current, group = row["case_id"], []
        group.append(row)
    if group:
        yield current, group  # type: ignore[misc]


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class EventRef:
    """An event as a problem names it: id, and time and action when its row is still there."""

    id: int | None
    at: dt.datetime | None = None
    action: str | None = None

    def label(self) -> str:
        if self.at is None:
            return f"evento {self.id}" if self.id is not None else "evento"
        when = self.at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
        return f"evento {self.id} ({when}, {self.action})"


@dataclass(frozen=True)
class Problem:
    """One break in a chain: ``kind`` is ``alterado``, ``inserido`` or ``removido``."""

    kind: str
    event: EventRef
    after: EventRef | None = None
    count: int = 1
    note: str = ""

    def describe(self) -> str:
        """In Portuguese, e.g. ``evento 17 (02/03/2026 10:00, tarefa_concluida) alterado``."""
        text = f"{self.event.label()} {self.kind}"
        if self.kind == REMOVED and self.count > 1:
            text += f", com mais {self.count - 1} antes dele"
        extras = [self.note] if self.note else []
        if self.after is not None:
            extras.append(f"depois do {self.after.label()}")
        return text + (f" ({'; '.join(extras)})" if extras else "")


@dataclass
class CaseCheck:
    """The verdict on one case's history."""

    case_id: int
    protocol: str
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _ref(event: Mapping[str, Any] | None, event_id: int | None = None) -> EventRef:
    if event is None:
        return EventRef(event_id)
    at = event["at"]
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return EventRef(event["id"], at, event["action"])


def check_chain(case_id: int, protocol: str, events: Sequence[Mapping[str, Any]], seals: Sequence[Any],
                head: Any) -> CaseCheck:
    """Walk one case's seals in position order against its events and head (pure: no database)."""
    by_id = {event["id"]: event for event in events}
    result = CaseCheck(case_id, protocol, len(events))
    problems = result.problems
    altered: set[int] = set()

    def ref(event_id: int | None) -> EventRef:
        return _ref(by_id.get(event_id) if event_id is not None else None, event_id)

    def mark_altered(seal: Any, note: str = "") -> None:
        if seal.event_id in by_id and seal.event_id not in altered:
            altered.add(seal.event_id)
            problems.append(Problem(ALTERED, ref(seal.event_id), note=note))

    ordered = sorted(seals, key=lambda s: s.position)
    expected, prev_hash, previous = 1, GENESIS, None  # what the next seal must follow
    for seal in ordered:
        after = ref(previous.event_id) if previous is not None else None
        previous_id = previous.event_id if previous is not None else None
        if seal.position > expected or seal.prev_event_id != previous_id:
            missing = max(seal.position - expected, 1)
            problems.append(Problem(REMOVED, EventRef(seal.prev_event_id), after, missing))
        elif seal.prev_hash != prev_hash:
            if previous is not None:
                mark_altered(previous, "o selo seguinte não o confirma")  # its seal was rewritten
            else:
                mark_altered(seal, "o início da cadeia não confere")
        if seal.event_id not in by_id:
            problems.append(Problem(REMOVED, EventRef(seal.event_id), after))
        elif event_hash(by_id[seal.event_id], seal.prev_hash) != seal.hash:
            mark_altered(seal)
        expected, prev_hash, previous = seal.position + 1, seal.hash, seal
    sealed = {seal.event_id for seal in seals}
    for event in events:
        if event["id"] not in sealed:
            problems.append(Problem(INSERTED, _ref(event), note="sem selo na cadeia"))
    _check_head(result, ordered, head, ref, mark_altered)
    return result


def _check_head(result: CaseCheck, seals: list[Any], head: Any, ref: Any, mark_altered: Any) -> None:
    """The chain must end where its head says: same length, same last event, same last hash."""
    last = seals[-1] if seals else None
    last_ref = ref(last.event_id) if last is not None else None
    walked = last.position if last is not None else 0
    if head is None:
        if last is not None:
            result.problems.append(Problem(REMOVED, EventRef(None), last_ref,
                                           note="o registro do fim da cadeia foi apagado"))
        return
    if head.events > walked:
        result.problems.append(Problem(REMOVED, EventRef(head.last_event_id), last_ref, head.events - walked,
                                       note="era o último do histórico"))
    elif head.events < walked:
        for seal in seals:
            if seal.position > head.events:
                result.problems.append(Problem(INSERTED, ref(seal.event_id),
                                               note="selado depois do fim registrado da cadeia"))
    elif last is not None and head.last_event_id != last.event_id:
        result.problems.append(Problem(REMOVED, EventRef(head.last_event_id), note="era o último do histórico"))
        result.problems.append(Problem(INSERTED, last_ref, note="posto no lugar do último"))
    elif last is not None and head.last_hash != last.hash:
        mark_altered(last, "o fim registrado da cadeia não o confirma")


def verify(conn: Connection, case_id: int | None = None) -> list[CaseCheck]:
    """Check the chain of one case, or of every case (in id order, a few hundred cases per query)."""
    query = select(CASES.c.id, CASES.c.protocol).order_by(CASES.c.id)
    if case_id is not None:
        query = query.where(CASES.c.id == case_id)
    cases = conn.execute(query).all()
    checks: list[CaseCheck] = []
    for start in range(0, len(cases), _CASES_PER_CHECK):
        chunk = cases[start:start + _CASES_PER_CHECK]
        low, high = chunk[0].id, chunk[-1].id
        events = conn.execute(select(*_EVENT_COLUMNS).where(AUDIT.c.case_id.between(low, high))
                              .order_by(AUDIT.c.case_id, AUDIT.c.id)).mappings().all()
        seals = conn.execute(select(SEALS).where(SEALS.c.case_id.between(low, high))
                             .order_by(SEALS.c.case_id, SEALS.c.position)).all()
        heads = {h.case_id: h for h in conn.execute(select(HEADS).where(HEADS.c.case_id.between(low, high)))}
        events_of: dict[int, list[Mapping[str, Any]]] = dict(_by_case(events))
        seals_of: dict[int, list[Any]] = {}
        for seal in seals:
            seals_of.setdefault(seal.case_id, []).append(seal)
        for case in chunk:
            checks.append(check_chain(case.id, case.protocol, events_of.get(case.id, []),
                                      seals_of.get(case.id, []), heads.get(case.id)))
    return checks


def verify_case(conn: Connection, case_id: int) -> CaseCheck:
    """The verdict on one case (the case page)."""
    found = verify(conn, case_id)
    return found[0] if found else CaseCheck(case_id, "", 0)
