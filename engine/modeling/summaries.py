"""The catalogue page's data: every procedure with its deployed versions and open drafts, read with
aggregate queries (who deployed, when, content hash, cases on each version); no workflow is deserialized.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, case, func, select

from engine.modeling.models import ProcessDraft
from engine.store.models import Case, ProcessDefinition

DEFINITIONS = ProcessDefinition.__table__
CASES = Case.__table__
DRAFTS = ProcessDraft.__table__


@dataclass(frozen=True)
class VersionSummary:
    """One deployed version of a procedure, with the cases started on it."""

    definition_id: int
    version: int
    name: str
    filename: str
    content_hash: str
    deployed_by: str
    deployed_at: dt.datetime
    cases_total: int
    cases_open: int
    current: bool


@dataclass(frozen=True)
class DraftSummary:
    """An open draft (without its XML)."""

    id: int
    process_id: str
    name: str
    based_on_version: int | None
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class ProcessSummary:
    """A procedure in the catalogue: its versions (newest first) and its open drafts."""

    process_id: str
    name: str
    current_version: int | None
    versions: list[VersionSummary]
    drafts: list[DraftSummary]

    @property
    def cases_total(self) -> int:
        return sum(v.cases_total for v in self.versions)

    @property
    def cases_open(self) -> int:
        return sum(v.cases_open for v in self.versions)



def process_summaries(db: Engine) -> list[ProcessSummary]:
    """Every procedure (deployed or only drafted), sorted by name."""
    with db.connect() as conn:
        definitions = conn.execute(
            select(DEFINITIONS.c.id, DEFINITIONS.c.process_id, DEFINITIONS.c.name, DEFINITIONS.c.version,
                   DEFINITIONS.c.filename, DEFINITIONS.c.content_hash, DEFINITIONS.c.deployed_by,
                   DEFINITIONS.c.deployed_at)
            .order_by(DEFINITIONS.c.process_id, DEFINITIONS.c.version.desc())).all()
        counts = {row.definition_id: (row.total, row.open or 0) for row in conn.execute(
            select(CASES.c.definition_id, func.count(CASES.c.id).label("total"),
                   func.sum(case((CASES.c.status != "encerrado", 1), else_=0)).label("open"))
            .group_by(CASES.c.definition_id))}
        drafts = conn.execute(
            select(DRAFTS.c.id, DRAFTS.c.process_id, DRAFTS.c.name, DEFINITIONS.c.version, DRAFTS.c.created_by,
                   DRAFTS.c.created_at, DRAFTS.c.updated_by, DRAFTS.c.updated_at)
            .select_from(DRAFTS.outerjoin(DEFINITIONS, DEFINITIONS.c.id == DRAFTS.c.based_on_definition_id))
            .where(DRAFTS.c.status == "rascunho").order_by(DRAFTS.c.updated_at.desc(), DRAFTS.c.id.desc())).all()
    versions: dict[str, list[VersionSummary]] = {}
    for row in definitions:
        total, open_ = counts.get(row.id, (0, 0))
        versions.setdefault(row.process_id, []).append(VersionSummary(
            row.id, row.version, row.name, row.filename, row.content_hash, row.deployed_by, row.deployed_at,
            int(total), int(open_), current=not versions.get(row.process_id)))
    open_drafts: dict[str, list[DraftSummary]] = {}
    for row in drafts:
        open_drafts.setdefault(row.process_id, []).append(DraftSummary(
            row.id, row.process_id, row.name, row.version, row.created_by, row.created_at, row.updated_by,
            row.updated_at))
    result = []
    for process_id in versions.keys() | open_drafts.keys():
        process_versions = versions.get(process_id, [])
        process_drafts = open_drafts.get(process_id, [])
        name = process_versions[0].name if process_versions else process_drafts[0].name
        result.append(ProcessSummary(process_id, name, process_versions[0].version if process_versions else None,
                                     process_versions, process_drafts))
    return sorted(result, key=lambda p: (p.name.casefold(), p.process_id))
