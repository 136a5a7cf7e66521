"""Service-task handlers: plain functions registered by topic, run by the engine's worker.

Nothing here imports the engine: what a handler needs (settings, the case's protocol and unit, the
time, how to store or load a document) comes in its :class:`tasks.context.TaskContext`. The engine
sees this package only through the :class:`tasks.registry.ServiceRegistry` handed to it at start-up.
"""
