"""Service-task handlers: plain functions registered by name and called by the engine.

The engine only talks to :mod:`tasks.registry`; it never imports a handler module by name.
"""
