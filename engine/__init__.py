"""Procon Flow engine: runs the agency's BPMN procedures with SpiffWorkflow and SQLAlchemy.

Pure Python, no Flask import anywhere below this package, so it can be used from the CLI, the
worker or a plain script. The public entry points are in :mod:`engine.runtime` (the only way to
change a case) and :mod:`engine.runtime.queries` (read-only projections for the UI).
"""
