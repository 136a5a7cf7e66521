"""What a case means to one of its parties, in plain language: "o que acontece agora".

A pure module (no database, no Flask): the portal and the API hand it the case's open tasks, its pending
deadlines and its status, and get back sentences such as "É a sua vez: Avaliar a proposta do fornecedor.
Responda até 16/03/2026 (faltam 10 dias)." or "Aguardando o Procon: Analisar reclamação, previsto até
23/03/2026." — the viewer's own turn first, then who else the case is waiting for and until when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from engine.roles import PARTY_ROLES

AGENCY_TZ = ZoneInfo("America/Sao_Paulo")

#: How each party is called when the other one reads about it.
PARTY_NAMES = {"consumidor": "o consumidor", "fornecedor": "a empresa"}


@dataclass(frozen=True)
class TaskFact:
    """An open task as the party view needs it (from ``open_tasks``)."""

    title: str
    role: str
    due_at: dt.datetime | None = None
    spec_name: str = ""
    task_id: str = ""


@dataclass(frozen=True)
class DeadlineFact:
    """A pending deadline (from ``deadlines``, neither fired nor met)."""

    name: str
    due_at: dt.datetime
    attached_to: str | None = None
    kind: str = "legal"
    legal_basis: str = ""


@dataclass(frozen=True)
class Step:
    """One sentence of "o que acontece agora".

    ``kind``: ``sua_vez`` (the viewer must act), ``outra_parte`` (waiting for the other party),
    ``procon`` (waiting for the agency), ``prazo`` (waiting for a deadline to run out),
    ``encerrado`` (the case is closed).
    """

    kind: str
    text: str
    due_at: dt.datetime | None = None
    days_left: int | None = None
    task_id: str = ""


@dataclass(frozen=True)
class DeadlineLine:
    """A deadline that concerns the viewer: what, until when (dd/mm/aaaa) and how many days are left."""

    name: str
    due_at: dt.datetime
    date: str
    days_left: int
    overdue: bool
    yours: bool
    legal_basis: str = ""


def local_date(moment: dt.datetime, tz: ZoneInfo = AGENCY_TZ) -> dt.date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).date()


def days_left(due_at: dt.datetime, now: dt.datetime, tz: ZoneInfo = AGENCY_TZ) -> int:
    """Calendar days from today to the due day in the agency's time zone (negative: overdue)."""
    return (local_date(due_at, tz) - local_date(now, tz)).days


def format_date(moment: dt.datetime, tz: ZoneInfo = AGENCY_TZ) -> str:
    return local_date(moment, tz).strftime("%d/%m/%Y")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def remaining_text(due_at: dt.datetime, now: dt.datetime, tz: ZoneInfo = AGENCY_TZ) -> str:
    """"faltam 3 dias", "falta 1 dia", "vence hoje", "venceu há 2 dias"."""
    days = days_left(due_at, now, tz)
    if _aware(due_at) < _aware(now):
        if days >= 0:
            return "o prazo terminou"
        return f"venceu há {-days} dia{'s' if days != -1 else ''}"
    if days == 0:
        return "vence hoje"
    return f"falta{'m' if days != 1 else ''} {days} dia{'s' if days != 1 else ''}"


def _due_of(task: TaskFact, deadlines: Sequence[DeadlineFact]) -> dt.datetime | None:
    """The task's own due date, else the earliest pending deadline attached to it (a boundary timer)."""
    if task.due_at is not None:
        return task.due_at
    attached = [d.due_at for d in deadlines if task.spec_name and d.attached_to == task.spec_name]
    return min(attached, key=_aware) if attached else None


def _sort_key(task: TaskFact, deadlines: Sequence[DeadlineFact]) -> tuple[bool, dt.datetime]:
    due = _due_of(task, deadlines)
    return due is None, _aware(due) if due is not None else dt.datetime.max.replace(tzinfo=dt.UTC)


def _outcome_text(outcome: str | None) -> str:
    text = (outcome or "").strip()
    for prefix in ("Encerrada:", "Encerrado:"):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
    return text


def next_steps(viewer_role: str, status: str, outcome: str | None, tasks: Iterable[TaskFact],
               deadlines: Iterable[DeadlineFact], now: dt.datetime, closed_at: dt.datetime | None = None,
               tz: ZoneInfo = AGENCY_TZ) -> list[Step]:
    """The sentences of "o que acontece agora" for the party ``viewer_role`` (``consumidor``/``fornecedor``).

    The viewer's own tasks come first (most urgent first), then the other party's, then the Procon's;
    with no open task, the pending deadlines the case waits for; a closed case says when and how it ended.
    """
    tasks = list(tasks)
    pending = [d for d in deadlines]
    if status == "encerrado":
        how = _outcome_text(outcome)
        when = f" em {format_date(closed_at, tz)}" if closed_at is not None else ""
        text = f"Este caso foi encerrado{when}" + (f": {how[0].lower() + how[1:]}." if how else ".")
        return [Step("encerrado", text, closed_at)]
    steps: list[Step] = []
    own = sorted((t for t in tasks if t.role == viewer_role), key=lambda t: _sort_key(t, pending))
    for task in own:
        due = _due_of(task, pending)
        if due is None:
            steps.append(Step("sua_vez", f"É a sua vez: {task.title}.", task_id=task.task_id))
            continue
        left = days_left(due, now, tz)
        if _aware(due) < _aware(now):
            text = (f"É a sua vez: {task.title}. O prazo terminou em {format_date(due, tz)} "
                    f"({remaining_text(due, now, tz)}); responda assim que puder.")
        else:
            text = f"É a sua vez: {task.title}. Responda até {format_date(due, tz)} ({remaining_text(due, now, tz)})."
        steps.append(Step("sua_vez", text, due, left, task.task_id))
    others = sorted((t for t in tasks if t.role in PARTY_ROLES and t.role != viewer_role),
                    key=lambda t: _sort_key(t, pending))
    for task in others:
        due = _due_of(task, pending)
        who = PARTY_NAMES.get(task.role, task.role)
        until = f", até {format_date(due, tz)}" if due is not None else ""
        steps.append(Step("outra_parte", f"Aguardando {who}: {task.title}{until}.", due,
                          days_left(due, now, tz) if due is not None else None))
    staff = sorted((t for t in tasks if t.role not in PARTY_ROLES), key=lambda t: _sort_key(t, pending))
    for task in staff:
        due = _due_of(task, pending)
        until = f", previsto até {format_date(due, tz)}" if due is not None else ""
        steps.append(Step("procon", f"Aguardando o Procon: {task.title}{until}.", due,
                          days_left(due, now, tz) if due is not None else None))
    if steps:
        return steps
    waiting = sorted(pending, key=lambda d: _aware(d.due_at))
    if waiting:
        first = waiting[0]
        return [Step("prazo", f"Aguardando o prazo “{first.name}”, que termina em {format_date(first.due_at, tz)}. "
                              "Depois dele, o caso segue automaticamente.", first.due_at,
                     days_left(first.due_at, now, tz))]
    return [Step("procon", "O Procon está dando andamento ao caso. Você será avisado quando houver novidades.")]


def headline(steps: Sequence[Step]) -> Step | None:
    """The one sentence a case card shows: the first step (the viewer's own turn when there is one)."""
    return steps[0] if steps else None


def concerning_deadlines(viewer_role: str, tasks: Iterable[TaskFact], deadlines: Iterable[DeadlineFact],
                         now: dt.datetime, tz: ZoneInfo = AGENCY_TZ) -> list[DeadlineLine]:
    """The deadlines a party sees: every pending legal deadline, plus the due dates of its own tasks.

    ``yours`` marks those the viewer must meet (attached to or set on one of its tasks). Earliest first.
    """
    tasks = list(tasks)
    own_specs = {t.spec_name for t in tasks if t.role == viewer_role and t.spec_name}
    lines: list[DeadlineLine] = []
    covered: set[str] = set()
    for deadline in deadlines:
        yours = deadline.attached_to in own_specs
        if deadline.kind != "legal" and not yours:
            continue
        if yours and deadline.attached_to:
            covered.add(deadline.attached_to)
        left = days_left(deadline.due_at, now, tz)
        lines.append(DeadlineLine(deadline.name, deadline.due_at, format_date(deadline.due_at, tz), left,
                                  _aware(deadline.due_at) < _aware(now), yours, deadline.legal_basis))
    for task in tasks:
        if task.role == viewer_role and task.due_at is not None and task.spec_name not in covered:
            left = days_left(task.due_at, now, tz)
            lines.append(DeadlineLine(f"Prazo para: {task.title}", task.due_at, format_date(task.due_at, tz), left,
                                      _aware(task.due_at) < _aware(now), True))
    lines.sort(key=lambda line: _aware(line.due_at))
    return lines


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the plain timeline a party reads: when, who ("Você", "Procon", "A empresa"...), what."""

    at: dt.datetime
    who: str
    text: str


#: Audit actions a party sees; claims, reassignments, automatic steps and services stay internal.
PUBLIC_ACTIONS = ("iniciado", "tarefa_concluida", "prazo_vencido", "encerrado")

#: How the party who did something is named on the other party's timeline.
PARTY_LABELS = {"consumidor": "O consumidor", "fornecedor": "A empresa"}


def timeline_entry(action: str, description: str, at: dt.datetime, actor: str, viewer: str,
                   party_kinds: dict[str, str]) -> TimelineEntry | None:
    """The plain line for one audit event, or ``None`` when parties do not see it.

    ``actor`` is the username on the event; ``viewer`` the party's own username; ``party_kinds`` maps
    the usernames of portal accounts to their kind. Staff and the system appear as "Procon" (no names);
    the event's details (what was typed, internal notes) are never shown.
    """
    if action not in PUBLIC_ACTIONS:
        return None
    if actor == viewer:
        who = "Você"
    elif actor in party_kinds:
        who = PARTY_LABELS.get(party_kinds[actor], "Outra parte")
    else:
        who = "Procon"
    if action == "iniciado":
        text = "Caso aberto."
    elif action == "tarefa_concluida":
        text = description.removeprefix("Tarefa concluída: ").strip() + ": concluído."
    elif action == "prazo_vencido":
        who = "Procon"
        text = description.strip() + "."
    else:
        who = "Procon"
        text = (description.strip() or "Caso encerrado") + "."
    return TimelineEntry(at, who, text)
