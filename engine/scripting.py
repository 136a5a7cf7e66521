"""The script environment diagrams run in: conditions, scripts and timer expressions.

Scripts are trusted code (only analysts deploy diagrams, and every deploy is audited), but they
get a small, explicit set of names rather than the engine's internals.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

#: Names every script, condition and timer expression can use.
SCRIPT_GLOBALS: dict[str, object] = {}


def make_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=TaskDataEnvironment(dict(SCRIPT_GLOBALS)))
