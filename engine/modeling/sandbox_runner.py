"""Starts the sandbox's child process for one request and turns how it ended into an answer or a clear
message: the web process's side of "Testar" never runs a draft itself.

One child per request (``python -I -c ... engine.modeling.sandbox_process``): it starts in the sandbox's
folder with a clean environment (``PATH``, ``LANG``, ``HOME`` = the folder, ``TZ`` when set — no
``SECRET_KEY``, no ``DATABASE_URL``, no ``PROCON_*``), limits itself before reading the request
(:class:`SandboxLimits`: CPU seconds, memory, file size) and is killed, with its whole process group,
when it runs past the wall-clock timeout. Its answer goes to a file in the folder (so the file-size
limit bounds it too) and its stderr to ``child.log``. A child that goes over a limit, crashes or
answers nonsense raises :class:`~engine.modeling.sandbox_protocol.SandboxFailure` with a message for
the analyst; the web process only waited.

One process per request keeps nothing of a draft alive between requests, gives every request its own
CPU budget and works the same with several web processes; it costs the child's start (about half a
second of imports) on each POST. GETs never start one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.modeling.sandbox_protocol import MEMORY_EXIT, PROTOCOL_VERSION, SandboxFailure, dumps, loads

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]
_BOOTSTRAP = ("import sys; sys.path.insert(0, {root!r}); "
              "from engine.modeling.sandbox_process import main; raise SystemExit(main(sys.argv[1:]))")
ANSWER_FILE = "answer.json"
LOG_FILE = "child.log"


@dataclass(frozen=True)
class SandboxLimits:
    """What one request of the sandbox may use."""

    cpu_seconds: int = 20
    memory_bytes: int = 2**30
    #: the parent's timeout; the child is killed when it has not finished by then
    wall_seconds: float = 60.0
    #: largest file the child may write (its database, its answer)
    file_bytes: int = 256 * 2**20

    def time_message(self, wall: bool) -> str:
        amount = f"{self.wall_seconds:g} s por operação" if wall else f"{self.cpu_seconds} s de processamento"
        return (f"O teste excedeu o limite de tempo ({amount}) e foi interrompido. Procure no rascunho um laço "
                "ou script que não termina; se o teste ficar incoerente, use “Reiniciar teste”.")

    def memory_message(self) -> str:
        return (f"O teste excedeu o limite de memória ({self.memory_bytes // 2**20} MB) e foi interrompido. "
                "Procure no rascunho um script que monta listas ou textos enormes; se o teste ficar incoerente, "
                "use “Reiniciar teste”.")


def child_environment(directory: Path) -> dict[str, str]:
    """All the child knows of the world: no secret and no database address of the application."""
    environment = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(directory)}
    if os.environ.get("TZ"):
        environment["TZ"] = os.environ["TZ"]
    return environment


class SandboxRunner:
    """Runs one request in a fresh child process; ``spawned`` counts them.

    ``test_hook`` is for tests only (see :mod:`engine.modeling.sandbox_process`): the web app builds its
    runner without one and no setting or request can give it one.
    """

    def __init__(self, limits: SandboxLimits | None = None, *, test_hook: str | None = None,
                 python: str = sys.executable) -> None:
        self.limits = limits or SandboxLimits()
        self.test_hook = test_hook
        self.python = python
        self.spawned = 0
        self.last_pid: int | None = None
        #: what the ``report`` test hook said, one entry per child
        self.reports: list[dict[str, Any]] = []
        self._count_lock = threading.Lock()

    def command(self) -> list[str]:
        limits = self.limits
        argv = [self.python, "-I", "-c", _BOOTSTRAP.format(root=str(_ROOT)), "--cpu", str(limits.cpu_seconds),
                "--memory", str(limits.memory_bytes), "--files", str(limits.file_bytes)]
        return argv + (["--test-hook", self.test_hook] if self.test_hook else [])

    def call(self, directory: Path, request: dict[str, Any]) -> dict[str, Any]:
        """Send ``request`` to a new child in ``directory`` and return its answer (a dict with ``ok``)."""
        answer_path, log_path = directory / ANSWER_FILE, directory / LOG_FILE
        payload = dumps({"protocol": PROTOCOL_VERSION, **request}).encode("utf-8")
        with open(answer_path, "wb") as answer_file, open(log_path, "wb") as log_file:
            process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=answer_file, stderr=log_file,
                                       cwd=directory, env=child_environment(directory), close_fds=True,
                                       start_new_session=True)
            with self._count_lock:
                self.spawned += 1
                self.last_pid = process.pid
            try:
                process.communicate(payload, timeout=self.limits.wall_seconds)
            except subprocess.TimeoutExpired:
                self._kill(process)
                raise SandboxFailure(self.limits.time_message(wall=True)) from None
            except BaseException:
                self._kill(process)
                raise
        return self._answer(process.returncode, answer_path, log_path)

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def _answer(self, returncode: int, answer_path: Path, log_path: Path) -> dict[str, Any]:
        limits = self.limits
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise SandboxFailure(limits.time_message(wall=False))
        if returncode == MEMORY_EXIT:
            raise SandboxFailure(limits.memory_message())
        if returncode == -signal.SIGXFSZ:
            raise SandboxFailure(f"O teste tentou gravar um arquivo maior que {limits.file_bytes // 2**20} MB "
                                 "e foi interrompido; use “Reiniciar teste”.")
        tail = _tail(log_path)
        if returncode != 0:
            if "MemoryError" in tail:
                raise SandboxFailure(limits.memory_message())
            log.warning("processo do teste terminou com código %s: %s", returncode, tail)
            raise SandboxFailure(f"O processo do teste parou inesperadamente (código {returncode}). Tente de "
                                 "novo; se continuar, use “Reiniciar teste”.")
        try:
            answer = loads(answer_path.read_bytes())
        except (OSError, ValueError) as error:
            log.warning("resposta ilegível do processo do teste (%s): %s", error, tail)
            answer = None
        if not isinstance(answer, dict) or answer.get("protocol") != PROTOCOL_VERSION or "ok" not in answer:
            raise SandboxFailure("O processo do teste devolveu uma resposta ilegível; nada foi mostrado. Tente de "
                                 "novo; se continuar, use “Reiniciar teste”.")
        report = answer.pop("test_report", None)
        if report is not None and self.test_hook:
            self.reports.append(report)
        return answer


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, path.stat().st_size - size))
            return file.read().decode("utf-8", "replace")
    except OSError:
        return ""
