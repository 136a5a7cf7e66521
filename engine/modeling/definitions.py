"""Process definitions: load diagrams from ``workflows/``, validate them and deploy versions.

A definition is stored once per content hash with an increasing version number per process;
deploying an unchanged file is a no-op. Running cases keep the definition they started on. Parsed
specs are cached in memory by content hash and shared by every workflow object of that version.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from sqlalchemy import Connection, Row, bindparam, func, select
from sqlalchemy.orm import Session

from engine.errors import DefinitionError, NotFound
from engine.forms.schema import FormRegistry
from engine.modeling.validation import Problem, library_of, parse_file, validate_bytes
from engine.store.models import ProcessDefinition


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


DEFINITIONS = ProcessDefinition.__table__
_LATEST_REF = (select(DEFINITIONS.c.id, DEFINITIONS.c.process_id, DEFINITIONS.c.name, DEFINITIONS.c.version)
               .where(DEFINITIONS.c.process_id == bindparam("process_id"))
               .order_by(DEFINITIONS.c.version.desc()).limit(1))
_BY_ID = select(DEFINITIONS).where(DEFINITIONS.c.id == bindparam("definition_id"))


def current_definitions(*columns: Any) -> Any:
    """SELECT ``columns`` of the current (latest) version of every deployed process."""
    latest = (select(DEFINITIONS.c.process_id, func.max(DEFINITIONS.c.version).label("version"))
              .group_by(DEFINITIONS.c.process_id).subquery())
    return select(*columns).join(
        latest, (latest.c.process_id == DEFINITIONS.c.process_id) & (latest.c.version == DEFINITIONS.c.version))


def deployed_library(conn: Connection) -> dict[str, bytes]:
    """The current XML of every deployed process (what call activities start)."""
    rows = conn.execute(current_definitions(DEFINITIONS.c.process_id, DEFINITIONS.c.bpmn_xml))
    return {process_id: xml.encode("utf-8") for process_id, xml in rows}


@dataclass(frozen=True)
class DefinitionRef:
    """A deployed definition without its XML."""

    id: int
    process_id: str
    name: str
    version: int


@dataclass(frozen=True)
class LoadedSpec:
    """The parsed spec of one deployed definition, shared between workflows."""

    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]


class DefinitionRepository:
    """Deployed definitions in the database, with their parsed specs cached in memory."""

    def __init__(self, workflows_dir: Path, forms: FormRegistry, services: Collection[str] = ()) -> None:
        self.workflows_dir = workflows_dir
        self.forms = forms
        self.services = services
        self._specs: dict[tuple[str, str], LoadedSpec] = {}
        self._by_id: dict[int, LoadedSpec] = {}
        self._lock = threading.Lock()

    # -- validation -------------------------------------------------------------------------
    def validate(self, content: bytes, filename: str, library: Mapping[str, bytes] | None = None) -> list[Problem]:
        if library is None:
            library = library_of(self.workflows_dir)
        return validate_bytes(content, filename, self.forms, library, services=self.services)

    def validate_directory(self) -> dict[Path, list[Problem]]:
        library = library_of(self.workflows_dir)
        return {path: self.validate(path.read_bytes(), str(path), library)
                for path in sorted(self.workflows_dir.glob("*.bpmn"))}

    # -- deployment -------------------------------------------------------------------------
    def deploy(self, session: Session, content: bytes, filename: str, actor: str) -> list[ProcessDefinition]:
        """Deploy every executable process in one file; returns the current definitions.

        Raises :class:`DefinitionError` with every problem when the file is not valid.
        """
        library = library_of(self.workflows_dir)
        problems = self.validate(content, filename, library)
        if problems:
            raise DefinitionError(problems)
        parsed, _ = parse_file(content, filename, library)
        assert parsed is not None
        digest = content_hash(content)
        xml = content.decode("utf-8")
        result = []
        for process_id in parsed.process_ids:
            latest = self.latest(session, process_id, required=False)
            if latest is not None and latest.content_hash == digest:
                result.append(latest)
                continue
            number = (session.scalar(select(func.max(ProcessDefinition.version))
                                     .where(ProcessDefinition.process_id == process_id)) or 0) + 1
            spec = parsed.parser.get_spec(process_id)
            definition = ProcessDefinition(
                process_id=process_id, name=spec.description or process_id, version=number,
                content_hash=digest, filename=Path(filename).name, bpmn_xml=xml, deployed_by=actor,
            )
            session.add(definition)
            session.flush()
            result.append(definition)
        return result

    def deploy_directory(self, session: Session, actor: str = "sistema") -> list[ProcessDefinition]:
        """Deploy every diagram in ``workflows/``; all must be valid or nothing is deployed."""
        problems: list[Problem] = []
        for path_problems in self.validate_directory().values():
            problems.extend(path_problems)
        if problems:
            raise DefinitionError(problems)
        deployed: list[ProcessDefinition] = []
        for path in sorted(self.workflows_dir.glob("*.bpmn")):
            deployed.extend(self.deploy(session, path.read_bytes(), path.name, actor))
        return deployed

    def latest(self, session: Session, process_id: str, required: bool = True) -> ProcessDefinition | None:
        definition = session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
            .order_by(ProcessDefinition.version.desc()).limit(1)
        ).first()
        if definition is None and required:
            raise NotFound(f"O processo '{process_id}' não está implantado. Rode 'procon init-db'.")
        return definition

    def latest_ref(self, conn: Connection, process_id: str) -> DefinitionRef:
        """Id, name and version of the current definition of a process (no XML)."""
        row = conn.execute(_LATEST_REF, {"process_id": process_id}).first()
        if row is None:
            raise NotFound(f"O processo '{process_id}' não está implantado. Rode 'procon init-db'.")
        return DefinitionRef(row.id, row.process_id, row.name, row.version)

    # -- specs ------------------------------------------------------------------------------
    def spec_by_id(self, conn: Connection, definition_id: int) -> LoadedSpec:
        """The parsed spec of a deployed definition (rows never change, so cached by id)."""
        with self._lock:
            loaded = self._by_id.get(definition_id)
        if loaded is not None:
            return loaded
        row = conn.execute(_BY_ID, {"definition_id": definition_id}).first()
        if row is None:
            raise NotFound(f"Definição {definition_id} não encontrada.")
        loaded = self.spec_for(row, self._deployed_library(conn))
        with self._lock:
            self._by_id[definition_id] = loaded
        return loaded

    @staticmethod
    def _deployed_library(conn: Connection) -> dict[str, bytes]:
        return deployed_library(conn)

    def spec_for(self, definition: ProcessDefinition | Row[Any], library: Mapping[str, bytes] | None = None
                 ) -> LoadedSpec:
        """The parsed spec, with the specs of the processes it calls (latest deployed versions).

        A called procedure is taken as deployed when the caller's spec is first loaded in this
        process; a running call keeps the spec it started with for as long as it is cached.
        """
        key = (definition.process_id, definition.content_hash)
        with self._lock:
            loaded = self._specs.get(key)
        if loaded is not None:
            return loaded
        parsed, problems = parse_file(definition.bpmn_xml.encode("utf-8"), definition.filename, library)
        if parsed is None:
            raise DefinitionError(problems)
        spec = parsed.parser.get_spec(definition.process_id)
        subprocess_specs = parsed.parser.get_subprocess_specs(definition.process_id)
        loaded = LoadedSpec(spec, subprocess_specs)
        with self._lock:
            self._specs[key] = loaded
        return loaded
