"""The form editor, engine side: forms edited in the browser, stored as drafts and published versions.

:class:`FormCatalog` holds the analysts' operations: drafts (which may be invalid, even malformed
JSON), validation (:meth:`FormCatalog.check` — :func:`engine.forms.checks.decode_form`, and no removal
of a field that a condition of a deployed diagram using the form reads), publication as a new version,
revert to an older version (or to the file) as yet another version, and discard. Every publication,
revert and discard leaves a :class:`~engine.forms.models.FormEvent`. The registry that serves the
published versions to the runtime is :class:`engine.forms.registry.CatalogFormRegistry`.

Nothing here imports Flask; messages are in Brazilian Portuguese for the person who acted.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.actors import Actor
from engine.errors import ConflictError, EngineError, NotFound, PermissionDenied
from engine.forms.checks import (
    MAX_FORM_BYTES,
    CheckResult,
    canonical_hash,
    decode_form,
    fields_read_by_diagrams,
    pretty,
)
from engine.forms.models import FormDraft, FormEvent, FormVersion
from engine.forms.schema import FormError, FormRegistry
from engine.modeling.definitions import deployed_library

if TYPE_CHECKING:
    from engine.runtime import Runtime

#: Role that edits forms (``admin`` may too).
ANALYST_ROLE = "analista_processos"
FORM_KEY_RE = re.compile(r"^[a-z0-9_]{1,100}$")


class FormDraftError(EngineError):
    """A form draft that cannot be saved, published or reverted as asked (the message says why)."""


class InvalidForm(EngineError):
    """A form that does not pass validation; ``problems`` lists every message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("O formulário tem problemas e não foi publicado: " + " ".join(problems))
        self.problems = problems


# -- what the editor lists -------------------------------------------------------------------------
@dataclass(frozen=True)
class FormSummary:
    """A form in the editor's list: where ``get`` finds it and the drafts open on it."""

    key: str
    title: str
    has_file: bool
    current_version: int | None
    versions: int
    open_drafts: list[int]
    published_at: dt.datetime | None = None
    published_by: str | None = None
    error: str | None = None

    @property
    def source(self) -> str:
        if self.current_version is not None:
            return f"versão {self.current_version} publicada"
        return "arquivo forms/" + self.key + ".json" if self.has_file else "ainda não publicado"


def _username(actor: Actor | str) -> str:
    return actor.username if isinstance(actor, Actor) else actor


class FormCatalog:
    """The analysts' operations on forms, over one :class:`~engine.runtime.Runtime`.

    ``actor`` is an :class:`~engine.actors.Actor` (it must have the role ``analista_processos`` or
    ``admin``) or a plain username for the CLI and scripts.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def registry(self) -> FormRegistry:
        return self.runtime.forms

    def _invalidate(self) -> None:
        invalidate = getattr(self.registry, "invalidate", None)
        if invalidate is not None:
            invalidate()

    # -- reading --------------------------------------------------------------------------------
    def overview(self) -> list[FormSummary]:
        """Every form (files, published, only drafted), sorted by title."""
        with self.runtime.Session() as session:
            versions = session.execute(select(FormVersion.key, FormVersion.version, FormVersion.title,
                                              FormVersion.published_by, FormVersion.published_at)
                                       .order_by(FormVersion.key, FormVersion.version.desc())).all()
            drafts = session.execute(select(FormDraft.key, FormDraft.id).where(FormDraft.status == "rascunho")
                                     .order_by(FormDraft.id)).all()
        latest: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for row in versions:
            latest.setdefault(row.key, row)
            counts[row.key] = counts.get(row.key, 0) + 1
        open_drafts: dict[str, list[int]] = {}
        for key, draft_id in drafts:
            open_drafts.setdefault(key, []).append(draft_id)
        file_keys = set(FormRegistry.keys(self.registry))
        result = []
        for key in file_keys | latest.keys() | open_drafts.keys():
            row = latest.get(key)
            title, error = key, None
            if row is not None:
                title = row.title
            elif key in file_keys:
                try:
                    title = FormRegistry.get(self.registry, key).title
                except FormError as exc:
                    error = str(exc)
            result.append(FormSummary(key, title, key in file_keys, row.version if row else None,
                                      counts.get(key, 0), open_drafts.get(key, []),
                                      row.published_at if row else None, row.published_by if row else None, error))
        return sorted(result, key=lambda s: (s.title.casefold(), s.key))

    def versions(self, key: str) -> list[FormVersion]:
        """Published versions of a form, newest first."""
        with self.runtime.Session() as session:
            return list(session.scalars(select(FormVersion).where(FormVersion.key == key)
                                        .order_by(FormVersion.version.desc())))

    def version(self, key: str, version: int) -> FormVersion:
        with self.runtime.Session() as session:
            row = session.scalars(select(FormVersion).where(FormVersion.key == key,
                                                            FormVersion.version == version)).first()
        if row is None:
            raise NotFound(f"A versão {version} do formulário '{key}' não existe.")
        return row

    def events(self, key: str) -> list[FormEvent]:
        """The publishing log of a form, newest first."""
        with self.runtime.Session() as session:
            return list(session.scalars(select(FormEvent).where(FormEvent.key == key)
                                        .order_by(FormEvent.id.desc())))

    def file_content(self, key: str) -> str | None:
        """The text of ``forms/<key>.json`` (None when there is no such file)."""
        if not FORM_KEY_RE.match(key or ""):
            return None
        path = Path(self.registry.forms_dir) / f"{key}.json"
        try:
            return path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def current_content(self, key: str) -> tuple[str, int | None]:
        """The text ``get(key)`` is built from now, and its published version (None: the file)."""
        with self.runtime.Session() as session:
            row = session.execute(select(FormVersion.content, FormVersion.version).where(FormVersion.key == key)
                                  .order_by(FormVersion.version.desc()).limit(1)).first()
        if row is not None:
            return row.content, row.version
        text = self.file_content(key)
        if text is None:
            raise NotFound(f"O formulário '{key}' não existe.")
        return text, None

    def draft(self, draft_id: int) -> FormDraft:
        with self.runtime.Session() as session:
            draft = session.get(FormDraft, draft_id)
        if draft is None:
            raise NotFound(f"Rascunho de formulário {draft_id} não encontrado.")
        return draft

    # -- drafts ---------------------------------------------------------------------------------
    def start_draft(self, key: str, actor: Actor | str) -> FormDraft:
        """The open draft of ``key`` (the oldest one) or a new one holding the current form."""
        self._require_analyst(actor)
        content, version = self.current_content(key)
        with self.runtime.Session.begin() as session:
            existing = session.scalars(select(FormDraft).where(FormDraft.key == key, FormDraft.status == "rascunho")
                                       .order_by(FormDraft.id).limit(1)).first()
            if existing is not None:
                return existing
            return self._add_draft(session, key, content, version, actor)

    def new_form(self, key: str, title: str, actor: Actor | str) -> FormDraft:
        """A draft of a form that does not exist yet (a file or a version would be edited instead)."""
        self._require_analyst(actor)
        key = (key or "").strip()
        title = (title or "").strip()
        if not FORM_KEY_RE.match(key):
            raise FormDraftError("A chave do formulário deve ter de 1 a 100 caracteres: letras minúsculas sem "
                                 "acento, dígitos e _ (por exemplo, 'vistoria_local').")
        if not title:
            raise FormDraftError("Informe o título do formulário.")
        if self.file_content(key) is not None or self.versions(key):
            raise FormDraftError(f"O formulário '{key}' já existe: abra-o na lista para editá-lo.")
        content = pretty({"key": key, "title": title[:200], "description": "",
                          "fields": [{"name": "campo_1", "label": "Novo campo", "type": "text"}]})
        with self.runtime.Session.begin() as session:
            if session.scalars(select(FormDraft.id).where(FormDraft.key == key,
                                                          FormDraft.status == "rascunho")).first():
                raise FormDraftError(f"Já existe um rascunho do formulário '{key}': abra-o na lista.")
            return self._add_draft(session, key, content, None, actor)

    def _add_draft(self, session: Session, key: str, content: str, version: int | None,
                   actor: Actor | str) -> FormDraft:
        username, now = _username(actor), clock.now()
        draft = FormDraft(key=key, content=content, based_on_version=version, revision=1, created_by=username,
                          created_at=now, updated_by=username, updated_at=now, status="rascunho")
        session.add(draft)
        session.flush()
        return draft

    def save_draft(self, draft_id: int, content: str | bytes, actor: Actor | str,
                   revision: int | None = None) -> FormDraft:
        """Store the draft's text as it is (it may be invalid). Refused: over 256 KB, not UTF-8, NUL
        characters, a closed draft, or ``revision`` older than the stored one (someone saved in between)."""
        self._require_analyst(actor)
        if isinstance(content, bytes):
            if len(content) > MAX_FORM_BYTES:
                raise FormDraftError(self._too_large(len(content)))
            try:
                content = content.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FormDraftError(f"O texto não está em UTF-8 (byte inválido na posição {error.start}); "
                                     "nada foi salvo.") from None
        if not isinstance(content, str):
            raise FormDraftError("O conteúdo do rascunho deve ser o texto JSON do formulário.")
        size = len(content.encode("utf-8"))
        if size > MAX_FORM_BYTES:
            raise FormDraftError(self._too_large(size))
        if "\x00" in content:
            raise FormDraftError("O texto contém caracteres nulos; nada foi salvo.")
        with self.runtime.Session.begin() as session:
            draft = self._open_draft(session, draft_id)
            if revision is not None and revision != draft.revision:
                raise ConflictError(f"{draft.updated_by} salvou este rascunho depois que você o abriu. "
                                    "Nada foi salvo: copie suas mudanças e recarregue a página.")
            draft.content, draft.updated_by, draft.updated_at = content, _username(actor), clock.now()
            draft.revision += 1
            session.flush()
            return draft

    def discard_draft(self, draft_id: int, actor: Actor | str) -> FormDraft:
        """Set a draft aside; it is kept, marked "descartado"."""
        self._require_analyst(actor)
        username = _username(actor)
        with self.runtime.Session.begin() as session:
            draft = self._open_draft(session, draft_id)
            draft.status, draft.updated_by, draft.updated_at = "descartado", username, clock.now()
            session.add(FormEvent(key=draft.key, version=None, action="descarte", actor=username, at=clock.now(),
                                  details={"descricao": f"Rascunho {draft_id} descartado", "rascunho_id": draft_id}))
            return draft

    # -- validation and publication -------------------------------------------------------------
    def check(self, key: str, content: str | bytes) -> CheckResult:
        """Everything publishing checks: JSON, :func:`parse_form`, and no removal of a field that a
        deployed diagram using this form reads in a condition or script."""
        result = decode_form(key, content)
        if not result.ok or result.form is None:
            return result
        try:
            current = self.registry.get(key)
        except FormError:
            return result
        removed = {f.name for f in current.fields} - {f.name for f in result.form.fields}
        if removed:
            with self.runtime.db.connect() as conn:
                readers = fields_read_by_diagrams(key, deployed_library(conn))
            for name in sorted(removed):
                for place in readers.get(name, []):
                    result.problems.append(f"O campo '{name}' não pode ser removido: a {place} usa a variável "
                                           f"'{name}'. Mude o diagrama antes, ou mantenha o campo.")
        return result

    def validate_draft(self, draft_id: int) -> CheckResult:
        draft = self.draft(draft_id)
        return self.check(draft.key, draft.content)

    def publish_draft(self, draft_id: int, actor: Actor | str) -> FormVersion:
        """Publish a valid draft as the form's new version: from now on every task form uses it.

        Raises :class:`InvalidForm` with every problem (nothing published), :class:`FormDraftError`
        when the draft is closed or equals the current form, :class:`ConflictError` on a race."""
        self._require_analyst(actor)
        draft = self.draft(draft_id)
        if draft.status != "rascunho":
            raise FormDraftError(self._closed_message(draft))
        result = self.validate_draft(draft_id)
        if not result.ok:
            raise InvalidForm(result.problems)
        username = _username(actor)
        try:
            with self.runtime.Session.begin() as session:
                marked = session.execute(
                    update(FormDraft).where(FormDraft.id == draft_id, FormDraft.status == "rascunho",
                                            FormDraft.revision == draft.revision)
                    .values(status="publicado", updated_by=username, updated_at=clock.now())
                    .execution_options(synchronize_session=False)).rowcount
                if marked != 1:
                    raise ConflictError("Este rascunho acabou de ser alterado, publicado ou descartado por outra "
                                        "pessoa. Nada foi publicado; recarregue a página.")
                row = self._publish(session, draft.key, result.data, username, "rascunho", draft_id)
                session.add(FormEvent(key=draft.key, version=row.version, action="publicacao", actor=username,
                                      at=clock.now(), details={
                                          "descricao": f"Publicação da versão {row.version} a partir do rascunho "
                                                       f"{draft_id}",
                                          "versao": row.version, "rascunho_id": draft_id,
                                          "hash": row.content_hash}))
        except IntegrityError:
            raise ConflictError(f"Outra pessoa publicou o formulário '{draft.key}' ao mesmo tempo. Nada foi "
                                "publicado; recarregue a página e tente de novo.") from None
        finally:
            self._invalidate()
        return row

    def revert(self, key: str, to_version: int, actor: Actor | str) -> FormVersion:
        """Publish the content of version ``to_version`` again, as a new version (0: the file in
        forms/). The history only grows; the content is checked again like a draft."""
        self._require_analyst(actor)
        if to_version == 0:
            content = self.file_content(key)
            if content is None:
                raise NotFound(f"O formulário '{key}' não tem arquivo em forms/ para restaurar.")
            origin, label = "arquivo", "o arquivo forms/" + key + ".json"
        else:
            content = self.version(key, to_version).content
            origin, label = "reversao", f"a versão {to_version}"
        result = self.check(key, content)
        if not result.ok:
            raise InvalidForm(result.problems)
        username = _username(actor)
        try:
            with self.runtime.Session.begin() as session:
                row = self._publish(session, key, result.data, username, origin, None)
                session.add(FormEvent(key=key, version=row.version, action="reversao", actor=username,
                                      at=clock.now(), details={
                                          "descricao": f"Versão {row.version}: reversão para {label}",
                                          "versao": row.version, "versao_origem": to_version,
                                          "versao_anterior": row.version - 1 or None, "hash": row.content_hash}))
        except IntegrityError:
            raise ConflictError(f"Outra pessoa publicou o formulário '{key}' ao mesmo tempo. Nada foi revertido; "
                                "recarregue a página e tente de novo.") from None
        finally:
            self._invalidate()
        return row

    def _publish(self, session: Session, key: str, data: Any, username: str, origin: str,
                 draft_id: int | None) -> FormVersion:
        digest = canonical_hash(data)
        last = session.execute(select(FormVersion.version, FormVersion.content_hash).where(FormVersion.key == key)
                               .order_by(FormVersion.version.desc()).limit(1)).first()
        if last is not None:
            current_hash, where = last.content_hash, f"à versão atual ({last.version})"
        else:
            file_text = self.file_content(key)
            current_hash = None
            if file_text is not None:
                try:
                    current_hash = canonical_hash(json.loads(file_text))
                except json.JSONDecodeError:
                    current_hash = None
            where = f"ao arquivo forms/{key}.json em uso"
        if digest == current_hash:
            raise FormDraftError(f"O formulário é igual {where}; nada foi publicado.")
        row = FormVersion(key=key, version=(last.version if last else 0) + 1, content=pretty(data),
                          content_hash=digest, title=str(data.get("title", key))[:300], published_by=username,
                          published_at=clock.now(), origin=origin, draft_id=draft_id)
        session.add(row)
        session.flush()
        return row

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _require_analyst(actor: Actor | str) -> None:
        if isinstance(actor, Actor) and not actor.has_role(ANALYST_ROLE):
            raise PermissionDenied("Só analistas de processos (ou administradores) alteram os formulários.")

    @staticmethod
    def _too_large(size: int) -> str:
        return (f"O formulário tem {size / 1024:.0f} KB; o limite é {MAX_FORM_BYTES // 1024} KB. "
                "Nada foi salvo.")

    @staticmethod
    def _closed_message(draft: FormDraft) -> str:
        return (f"O rascunho {draft.id} já foi {draft.status} (por {draft.updated_by}); "
                "abra um novo rascunho a partir da versão atual.")

    def _open_draft(self, session: Session, draft_id: int) -> FormDraft:
        draft = session.get(FormDraft, draft_id, with_for_update=True)
        if draft is None:
            raise NotFound(f"Rascunho de formulário {draft_id} não encontrado.")
        if draft.status != "rascunho":
            raise FormDraftError(self._closed_message(draft))
        return draft


__all__ = [
    "ANALYST_ROLE",
    "FORM_KEY_RE",
    "FormCatalog",
    "FormDraftError",
    "FormSummary",
    "InvalidForm",
    "check_form",
]


def check_form(runtime: Runtime, key: str, content: str | bytes) -> CheckResult:
    """Shortcut for :meth:`FormCatalog.check`."""
    return FormCatalog(runtime).check(key, content)
