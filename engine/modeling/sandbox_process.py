"""The sandbox's child process: sets its own limits, reads one request on stdin, runs it on the sandbox's
database and writes one answer on stdout (:mod:`engine.modeling.sandbox_protocol`), then exits.

Started by :class:`engine.modeling.sandbox_runner.SandboxRunner` with a clean environment (no secret, no
database address) in the sandbox's folder. Before it reads anything it limits itself
(``resource.setrlimit``): CPU time (``--cpu`` seconds, SIGXCPU then SIGKILL one second later), address
space (``--memory`` bytes), the size of any file it writes (``--files`` bytes) and no core dumps. Only
the standard library is imported before the limits are in place.

``--test-hook NAME[@OP]`` makes the child do one fixed thing before its operation (``report`` its pid,
environment, folder and limits; ``spin``, ``sleep``, ``allocate`` or ``crash``), so tests can prove the
limits without a draft; only code that builds a runner itself passes it (no request, no setting does).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from typing import Any

#: The exit status after running out of memory (kept equal to sandbox_protocol.MEMORY_EXIT, which this
#: module may not import before its limits are set).
MEMORY_EXIT = 86
HOOKS = ("report", "spin", "sleep", "allocate", "crash")


def _arguments(argv: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    pairs = iter(argv)
    for name in pairs:
        if not name.startswith("--"):
            raise SystemExit(f"argumento inesperado: {name}")
        options[name[2:]] = next(pairs, "")
    return options


def limit(cpu_seconds: int, memory_bytes: int, file_bytes: int) -> None:
    """Limit this process: CPU time, address space, file size, no core dumps."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def _hook(name: str, op: str) -> dict[str, Any] | None:
    """The test hook, when it applies to this operation (``name@op``, or ``name`` for every one)."""
    hook, _, only = name.partition("@")
    if hook not in HOOKS or (only and only != op):
        return None
    if hook == "spin":
        while True:
            pass
    if hook == "sleep":
        time.sleep(3600)
    if hook == "allocate":
        blocks = []
        while True:
            blocks.append(bytearray(32 * 2**20))
    if hook == "crash":
        os.abort()
    limits = {"cpu": resource.RLIMIT_CPU, "memory": resource.RLIMIT_AS, "core": resource.RLIMIT_CORE,
              "files": resource.RLIMIT_FSIZE}
    return {"pid": os.getpid(), "ppid": os.getppid(), "environ": dict(os.environ), "cwd": os.getcwd(),
            "argv": list(sys.argv), "limits": {key: list(resource.getrlimit(value)) for key, value in limits.items()}}


def main(argv: list[str]) -> int:
    options = _arguments(argv)
    limit(int(options["cpu"]), int(options["memory"]), int(options["files"]))
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else gets printed goes to the log, never into the answer
    sys.stdout = sys.stderr
    try:
        from pathlib import Path

        import engine.runtime  # noqa: F401 - first, as in the web app: modeling and runtime import each other
        from engine.modeling import sandbox_protocol as protocol

        request = protocol.loads(sys.stdin.buffer.read())
        op = str(request.get("op"))
        report = _hook(options["test-hook"], op) if options.get("test-hook") else None
        if request.get("protocol") != protocol.PROTOCOL_VERSION or op not in protocol.OPERATIONS:
            answer: dict[str, Any] = {"protocol": protocol.PROTOCOL_VERSION, "ok": False, "error": {
                "kind": "SandboxError", "message": "Pedido inválido ao processo do teste."}}
        else:
            from engine.modeling.sandbox_operations import SEED_FILE, Operations

            directory = Path.cwd()
            seed = protocol.loads((directory / SEED_FILE).read_bytes())
            answer = Operations(directory, request, seed).answer(op, dict(request.get("args") or {}))
        if report is not None:
            answer["test_report"] = report
        answers.write(protocol.dumps(answer).encode("utf-8"))
        answers.flush()
    except MemoryError:
        return MEMORY_EXIT
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
