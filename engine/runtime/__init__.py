"""The runtime: the only way to change a case.

:class:`Runtime` holds the commands (start a case, claim, release, reassign, complete a task, fire
due timers, complete a service task, recount deadlines), one family per module, each command one
transaction of the checkout -> act -> commit cycle (:mod:`engine.runtime.cycle`).
:mod:`engine.runtime.queries` is the read side the pages use.
"""

from engine.runtime.commands import EngineConfig, Runtime
from engine.runtime.cycle import CaseResult

__all__ = ["CaseResult", "EngineConfig", "Runtime"]
