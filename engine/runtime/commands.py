"""The engine's configuration and :class:`Runtime`, the only way to change a case.

:class:`Runtime` is composed from one command family per module, each built on the
checkout -> act -> commit cycle of :mod:`engine.runtime.cycle`: :mod:`~engine.runtime.cases`
(set-up, ``start_case``, the start form), :mod:`~engine.runtime.tasks` (``claim``, ``release``,
``reassign``, ``complete_task``), :mod:`~engine.runtime.timers` (``fire_due_timers``),
:mod:`~engine.runtime.service_tasks` (``complete_service_task``, ``retry_incident``) and
:mod:`~engine.runtime.recount` (``recalculate_deadlines``) and :mod:`~engine.runtime.transfer` (``transfer``
between units). Each command is one database transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine import clock
from engine.calendar.service import CalendarService
from engine.forms.registry import CatalogFormRegistry
from engine.forms.schema import FormRegistry
from engine.modeling.definitions import DefinitionRepository
from engine.runtime.cache import WorkflowCache
from engine.runtime.cases import CaseCommands
from engine.runtime.recount import RecountCommands
from engine.runtime.scripting import make_script_engine
from engine.runtime.service_tasks import ServiceTaskCommands
from engine.runtime.tasks import TaskCommands
from engine.runtime.timers import TimerCommands
from engine.runtime.transfer import TransferCommands
from engine.services import ServiceRegistry
from engine.store.db import make_engine, make_session_factory

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class EngineConfig:
    database_url: str | None = None
    workflows_dir: Path = REPO_ROOT / "workflows"
    forms_dir: Path = REPO_ROOT / "forms"
    unit: str = "CAP"
    cache_size: int = 512
    #: the service-task registry handed in by the composition root (``tasks.registry.default_registry()``);
    #: without one, a diagram with a service task does not validate and no job can run
    services: ServiceRegistry | None = None


class Runtime(CaseCommands, TaskCommands, TimerCommands, ServiceTaskCommands, RecountCommands, TransferCommands):
    """The engine: configuration, database, definitions and the commands that change cases."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        clock.install_into_spiffworkflow()
        self.db = make_engine(self.config.database_url)
        self.Session = make_session_factory(self.db)
        self.forms: FormRegistry = CatalogFormRegistry(self.config.forms_dir, self.Session)  # published versions first
        self.services: ServiceRegistry | None = self.config.services
        self.definitions = DefinitionRepository(self.config.workflows_dir, self.forms, self.services or ())
        self.cache = WorkflowCache(self.config.cache_size)
        self.script_engine = make_script_engine()
        self.calendars = CalendarService(self.Session)
