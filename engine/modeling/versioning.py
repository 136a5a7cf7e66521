"""The process analysts' operations on procedures (:class:`ProcessCatalog`): drafts, deploy, rollback.

* :meth:`ProcessCatalog.catalog` lists every procedure with its deployed versions and open drafts
  (read by :mod:`engine.modeling.summaries`).
* A draft (:class:`~engine.modeling.models.ProcessDraft`) holds work in progress: it may be
  invalid, but never bigger than 5 MB, never other than UTF-8 and never for another process id.
* :meth:`ProcessCatalog.deploy_draft` runs the same checks as ``procon validate`` (the other
  deployed procedures are the call-activity library); with any problem nothing is deployed.
  Otherwise the draft becomes a new version: new cases start on it, running cases keep theirs.
* :meth:`ProcessCatalog.rollback` makes an earlier version's content current again under a new
  version number: the history only grows.
* :meth:`ProcessCatalog.migrate_cases` moves running cases to another version when their current
  position exists unchanged there (the rules are in :mod:`engine.modeling.migration`).

Every deploy, rollback and migration leaves a :class:`~engine.modeling.models.DeploymentEvent`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.actors import Actor
from engine.errors import ConflictError, DefinitionError, EngineError, NotFound, PermissionDenied
from engine.modeling import migration
from engine.modeling.compare import Comparison, compare
from engine.modeling.definitions import current_definitions, deployed_library
from engine.modeling.migration import MigrationReport
from engine.modeling.models import DeploymentEvent, ProcessDraft
from engine.modeling.parsing import parse_xml
from engine.modeling.summaries import ProcessSummary, process_summaries
from engine.modeling.validation import BPMN_NS, Problem, validate_bytes
from engine.store.models import ProcessDefinition

if TYPE_CHECKING:
    from engine.runtime import Runtime

#: Largest diagram accepted as a draft.
MAX_DRAFT_BYTES = 5 * 1024 * 1024
#: Role that works in the analysts' workspace (``admin`` may too).
ANALYST_ROLE = "analista_processos"

DEFINITIONS = ProcessDefinition.__table__


class DraftError(EngineError):
    """A draft that cannot be saved or deployed as it is (the message says why, in Portuguese)."""


# -- helpers ---------------------------------------------------------------------------------------
def _username(actor: Actor | str) -> str:
    return actor.username if isinstance(actor, Actor) else actor


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    text = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
    return text.replace(".", ",")


def _declared_processes(content: bytes) -> tuple[list[str], dict[str, str]] | None:
    """Executable process ids and every process id -> its name; None when it is not XML."""
    try:
        root = parse_xml(content).getroot()
    except etree.XMLSyntaxError:
        return None
    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p.get("id", "") for p in processes if p.get("isExecutable", "false").lower() == "true"]
    return executable, {p.get("id", ""): (p.get("name") or "").strip() for p in processes}


class ProcessCatalog:
    """The analysts' operations on procedures, over one :class:`~engine.runtime.Runtime`.

    ``actor`` is an :class:`~engine.actors.Actor` (then it must have the role
    ``analista_processos`` or ``admin``) or a plain username for the CLI and scripts.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # -- catalogue ----------------------------------------------------------------------------
    def catalog(self) -> list[ProcessSummary]:
        """Every procedure (deployed or only drafted), sorted by name."""
        return process_summaries(self.runtime.db)

    def definition(self, process_id: str, version: int | None = None) -> ProcessDefinition:
        """A deployed version (the current one when ``version`` is None)."""
        with self.runtime.Session() as session:
            return self._definition(session, process_id, version)

    def deployments(self, process_id: str) -> list[DeploymentEvent]:
        """The deployment log of a procedure, newest first."""
        with self.runtime.Session() as session:
            return list(session.scalars(select(DeploymentEvent).where(DeploymentEvent.process_id == process_id)
                                        .order_by(DeploymentEvent.id.desc())))

    # -- drafts -------------------------------------------------------------------------------
    def draft(self, draft_id: int) -> ProcessDraft:
        with self.runtime.Session() as session:
            draft = session.get(ProcessDraft, draft_id)
            if draft is None:
                raise NotFound(f"Rascunho {draft_id} não encontrado.")
            return draft

    def save_draft(self, process_id: str, xml: bytes | str, actor: Actor | str, draft_id: int | None = None,
                   name: str | None = None) -> ProcessDraft:
        """Create a draft, or update draft ``draft_id``; an invalid diagram is saved too.

        Refused (:class:`DraftError`): more than 5 MB, not UTF-8, or a diagram whose executable
        process is not ``process_id``.
        """
        return self._save_draft(process_id, xml, actor, draft_id, name, based_on=None)

    def draft_from_version(self, process_id: str, actor: Actor | str, version: int | None = None) -> ProcessDraft:
        """A new draft holding a deployed version (the current one by default), to edit."""
        definition = self.definition(process_id, version)
        return self._save_draft(process_id, definition.bpmn_xml, actor, None, None, based_on=definition.id)

    def discard_draft(self, draft_id: int, actor: Actor | str) -> ProcessDraft:
        """Set a draft aside; it is kept, marked "descartado"."""
        self._require_analyst(actor)
        with self.runtime.Session.begin() as session:
            draft = self._open_draft(session, draft_id)
            draft.status, draft.updated_by, draft.updated_at = "descartado", _username(actor), clock.now()
            return draft

    def _save_draft(self, process_id: str, xml: bytes | str, actor: Actor | str, draft_id: int | None,
                    name: str | None, based_on: int | None) -> ProcessDraft:
        self._require_analyst(actor)
        try:
            content = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
        except UnicodeEncodeError:
            raise DraftError("O texto do diagrama tem caracteres que não existem em UTF-8; "
                             "salve o diagrama em UTF-8 e envie de novo.") from None
        if len(content) > MAX_DRAFT_BYTES:
            raise DraftError(f"O arquivo tem {_megabytes(len(content))} MB; o limite é "
                             f"{MAX_DRAFT_BYTES // (1024 * 1024)} MB.")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DraftError(f"O arquivo não está codificado em UTF-8 (byte inválido na posição {error.start}). "
                             "Salve o diagrama em UTF-8 e envie de novo.") from None
        if "\x00" in text:
            raise DraftError("O arquivo contém caracteres nulos: não é um diagrama BPMN em texto.")
        text = text.removeprefix("\ufeff")
        if not process_id or len(process_id) > 100:
            raise DraftError("Informe o identificador do processo (até 100 caracteres).")
        declared = _declared_processes(text.encode("utf-8"))
        xml_name = None
        if declared is not None:
            executable, every = declared
            xml_name = every.get(process_id) or None
            if (executable and process_id not in executable) or (not executable and every and process_id not in every):
                others = ", ".join(f"'{p}'" for p in (executable or every))
                raise DraftError(
                    f"O diagrama declara o processo {others}, não '{process_id}'. Um rascunho de '{process_id}' "
                    f"precisa manter o id do processo (bpmn:process id=\"{process_id}\"); para outro procedimento, "
                    "crie um rascunho dele.")
        username, now = _username(actor), clock.now()
        with self.runtime.Session.begin() as session:
            if draft_id is not None:
                draft = self._open_draft(session, draft_id)
                if draft.process_id != process_id:
                    raise DraftError(f"O rascunho {draft_id} é do processo '{draft.process_id}', não de "
                                     f"'{process_id}'.")
                draft.bpmn_xml, draft.updated_by, draft.updated_at = text, username, now
                draft.name = (name or xml_name or draft.name)[:200]
            else:
                if based_on is None:
                    latest = self.runtime.definitions.latest(session, process_id, required=False)
                    based_on = latest.id if latest is not None else None
                draft = ProcessDraft(process_id=process_id, name=(name or xml_name or process_id)[:200],
                                     bpmn_xml=text, based_on_definition_id=based_on, created_by=username,
                                     created_at=now, updated_by=username, updated_at=now, status="rascunho")
                session.add(draft)
            session.flush()
            return draft

    # -- validation and deployment ------------------------------------------------------------
    def validate_draft(self, draft_id: int) -> list[Problem]:
        """The same checks as ``procon validate``; the other deployed procedures are the library
        of call activities. An empty list means the draft can be deployed."""
        draft = self.draft(draft_id)
        with self.runtime.db.connect() as conn:
            library = self._deployed_library(conn)
            filename = self._filename(conn, draft.process_id)
        content = draft.bpmn_xml.encode("utf-8")
        problems = validate_bytes(content, filename, self.runtime.forms, library,
                                  services=self.runtime.definitions.services)
        declared = _declared_processes(content)
        if not problems and declared is not None and draft.process_id not in declared[0]:
            problems.append(Problem(filename, "", None, f"O diagrama não declara o processo executável "
                                                        f"'{draft.process_id}' deste rascunho."))
        return problems

    def deploy_draft(self, draft_id: int, actor: Actor | str) -> ProcessDefinition:
        """Deploy a valid draft as the procedure's new version; returns that version.

        Raises :class:`DefinitionError` with every problem (nothing deployed), :class:`DraftError`
        when the draft is no longer open or equals the current version, and :class:`ConflictError`
        when someone deployed the same procedure at the same moment.
        """
        self._require_analyst(actor)
        draft = self.draft(draft_id)
        if draft.status != "rascunho":
            raise DraftError(self._closed_message(draft))
        problems = self.validate_draft(draft_id)
        if problems:
            raise DefinitionError(problems)
        username = _username(actor)
        try:
            with self.runtime.Session.begin() as session:
                filename = self._filename(session.connection(), draft.process_id)
                before = self._current_ids(session)
                deployed = self.runtime.definitions.deploy(session, draft.bpmn_xml.encode("utf-8"), filename,
                                                           username)
                main = next(d for d in deployed if d.process_id == draft.process_id)
                new = [d for d in deployed if before.get(d.process_id) != d.id]
                if not new:
                    raise DraftError(f"O rascunho é igual à versão atual ({main.version}) de “{main.name}”; "
                                     "nada foi implantado.")
                marked = session.execute(
                    update(ProcessDraft).where(ProcessDraft.id == draft_id, ProcessDraft.status == "rascunho")
                    .values(status="implantado", updated_by=username, updated_at=clock.now())
                    .execution_options(synchronize_session=False)).rowcount
                if marked != 1:
                    raise ConflictError("Este rascunho acabou de ser implantado ou descartado por outra pessoa. "
                                        "Nada foi implantado agora; confira o catálogo.")
                for definition in new:
                    together = "" if definition.process_id == draft.process_id else \
                        f" (no mesmo arquivo que '{draft.process_id}')"
                    self._log(session, definition, "implantacao", username, {
                        "descricao": f"Implantação da versão {definition.version} a partir do rascunho "
                                     f"{draft_id}{together}",
                        "versao": definition.version, "rascunho_id": draft_id, "hash": definition.content_hash})
        except IntegrityError:
            raise ConflictError(f"Outra pessoa implantou uma versão de '{draft.process_id}' ao mesmo tempo. "
                                "Nada foi implantado; confira o catálogo e tente de novo.") from None
        return main

    def rollback(self, process_id: str, to_version: int, actor: Actor | str) -> ProcessDefinition:
        """Make version ``to_version``'s content current again, as a new version number.

        Running cases keep their versions; new cases start on the returned one. Refused when the
        version does not exist or its content is already the current one; the content is checked
        again (a form or service it needs may have gone since) and nothing is deployed on problems.
        """
        self._require_analyst(actor)
        username = _username(actor)
        try:
            with self.runtime.Session.begin() as session:
                target = self._definition(session, process_id, to_version)
                current = self._definition(session, process_id, None)
                if target.content_hash == current.content_hash:
                    raise DraftError(f"A versão atual ({current.version}) de “{current.name}” já tem o conteúdo "
                                     f"da versão {to_version}; nada a reverter.")
                before = self._current_ids(session)
                deployed = self.runtime.definitions.deploy(session, target.bpmn_xml.encode("utf-8"),
                                                           target.filename, username)
                main = next(d for d in deployed if d.process_id == process_id)
                for definition in deployed:
                    if before.get(definition.process_id) == definition.id:
                        continue
                    together = "" if definition.process_id == process_id else \
                        f" (no mesmo arquivo que '{process_id}')"
                    self._log(session, definition, "reversao", username, {
                        "descricao": f"Versão {definition.version}: reversão para a versão {to_version}{together}",
                        "versao": definition.version, "versao_origem": to_version,
                        "versao_anterior": current.version, "hash": definition.content_hash})
        except IntegrityError:
            raise ConflictError(f"Outra pessoa implantou uma versão de '{process_id}' ao mesmo tempo. "
                                "Nada foi revertido; confira o catálogo e tente de novo.") from None
        return main

    # -- comparison ---------------------------------------------------------------------------
    def compare_versions(self, process_id: str, version_a: int, version_b: int) -> Comparison:
        """Differences from version ``version_a`` to version ``version_b`` of a procedure."""
        a = self.definition(process_id, version_a)
        b = self.definition(process_id, version_b)
        return compare(a.bpmn_xml.encode("utf-8"), b.bpmn_xml.encode("utf-8"))

    def compare_draft(self, draft_id: int) -> Comparison:
        """What deploying the draft would change, from the procedure's current version."""
        draft = self.draft(draft_id)
        current = self.definition(draft.process_id)
        return compare(current.bpmn_xml.encode("utf-8"), draft.bpmn_xml.encode("utf-8"))

    # -- migration of running cases ------------------------------------------------------------
    def migrate_cases(self, process_id: str, from_version: int, to_version: int, actor: Actor | str,
                      case_ids: Iterable[int] | None = None) -> MigrationReport:
        """Move running cases of ``from_version`` (or only ``case_ids``) to ``to_version`` when their
        current position — the tasks they wait on — exists unchanged there
        (:func:`engine.modeling.migration.migrate_cases`; only analysts may)."""
        self._require_analyst(actor)
        if from_version == to_version:
            raise DraftError("Escolha versões diferentes para migrar os casos.")
        username = _username(actor)
        return migration.migrate_cases(self.runtime, process_id, from_version, to_version, username, case_ids)

    def preview_migration(self, process_id: str, from_version: int, to_version: int) -> MigrationReport:
        """Which running cases of ``from_version`` could move to ``to_version`` now (``moved``) and
        why the others could not (``not_moved``), by the same :meth:`position_problem` check as
        :meth:`migrate_cases`; nothing is written (:func:`engine.modeling.migration.preview_migration`)."""
        if from_version == to_version:
            raise DraftError("Escolha versões diferentes para migrar os casos.")
        return migration.preview_migration(self.runtime, process_id, from_version, to_version)

    position_problem = staticmethod(migration.position_problem)

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _require_analyst(actor: Actor | str) -> None:
        if isinstance(actor, Actor) and not actor.has_role(ANALYST_ROLE):
            raise PermissionDenied("Só analistas de processos (ou administradores) alteram os procedimentos.")

    @staticmethod
    def _closed_message(draft: ProcessDraft) -> str:
        return (f"O rascunho {draft.id} já foi {draft.status} (por {draft.updated_by}); "
                "crie um novo rascunho a partir da versão atual.")

    def _open_draft(self, session: Session, draft_id: int) -> ProcessDraft:
        draft = session.get(ProcessDraft, draft_id, with_for_update=True)
        if draft is None:
            raise NotFound(f"Rascunho {draft_id} não encontrado.")
        if draft.status != "rascunho":
            raise DraftError(self._closed_message(draft))
        return draft

    @staticmethod
    def _definition(session: Session, process_id: str, version: int | None) -> ProcessDefinition:
        query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        query = (query.where(ProcessDefinition.version == version) if version is not None
                 else query.order_by(ProcessDefinition.version.desc()).limit(1))
        definition = session.scalars(query).first()
        if definition is None:
            if version is None:
                raise NotFound(f"O processo '{process_id}' não está implantado.")
            raise NotFound(f"A versão {version} do processo '{process_id}' não existe.")
        return definition

    @staticmethod
    def _current_ids(session: Session) -> dict[str, int]:
        """Process id -> id of its current definition."""
        rows = session.execute(current_definitions(DEFINITIONS.c.process_id, DEFINITIONS.c.id))
        return {process_id: definition_id for process_id, definition_id in rows}

    @staticmethod
    def _deployed_library(conn: Connection) -> dict[str, bytes]:
        return deployed_library(conn)

    @staticmethod
    def _filename(conn: Connection, process_id: str) -> str:
        """The file name the procedure is deployed under (``<process id>.bpmn`` for a new one)."""
        filename = conn.scalar(select(DEFINITIONS.c.filename).where(DEFINITIONS.c.process_id == process_id)
                               .order_by(DEFINITIONS.c.version.desc()).limit(1))
        return filename or f"{Path(process_id).name}.bpmn"

    @staticmethod
    def _log(session: Session, definition: ProcessDefinition, action: str, actor: str,
             details: dict[str, Any]) -> None:
        session.add(DeploymentEvent(process_id=definition.process_id, definition_id=definition.id, action=action,
                                    actor=actor, at=clock.now(), details=details))
        session.flush()
