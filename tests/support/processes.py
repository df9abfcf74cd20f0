"""Real subprocesses for integration tests: Celery workers, beat, the launcher. Each runs in its own
session so it can be killed whole, logs to a file that failures quote, and is always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiworld.env import PROJECT_ROOT


def database_url_for(db_name: str) -> str:
    """The environment's DATABASE_URL pointed at another database (the test database)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{db_name}"))


def subprocess_env(**overrides: str) -> dict[str, str]:
    environ = dict(os.environ)
    # AIWORLD_MEMORY_PREWARM off: a cpu worker would enqueue a task of its own at start; the prewarm
    # test turns it on
    environ.update(DJANGO_SETTINGS_MODULE="aiworld.settings", PYTHONUNBUFFERED="1", AIWORLD_ENV="test",
                   AIWORLD_MEMORY_PREWARM="0")
    environ.update(overrides)
    return environ


class Proc:
    def __init__(self, name: str, argv: list[str], log_path: Path, environ: dict[str, str],
                 cwd: Path | None = None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(argv, cwd=cwd or PROJECT_ROOT, env=environ, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill_hard(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children, as in a crash."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.alive():
            self.kill_hard()
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # pool children that outlived their parent
        except ProcessLookupError:
            pass
        self._log.close()


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def start_worker(tmp_path: Path, queues: str, environ: dict[str, str], *, pool: str = "solo",
                 concurrency: int = 1, ready_timeout: float = 60.0, code: Path | None = None) -> Proc:
    """A real `celery worker` subprocess, returned once it answers a ping. `code`: run another copy of the
    project (an earlier revision, for benchmarks) instead of this checkout."""
    from aiworld.celery import app

    node = f"{queues.replace(',', '-')}-{uuid.uuid4().hex[:6]}@test"
    argv = [sys.executable, "-m", "celery", "-A", "aiworld", "worker", "-Q", queues, "-P", pool,
            "-c", str(concurrency), "-n", node, "--include", "tests.support.tasks", "-l", "INFO",
            "--without-mingle", "--without-gossip"]
    proc = Proc(node, argv, tmp_path / f"{node}.log", environ, cwd=code)
    try:
        wait_for(lambda: not proc.alive() or app.control.ping(destination=[node], timeout=0.5),
                 ready_timeout, interval=0.3, what=f"worker {node} ready")
    except TimeoutError:
        proc.stop()
        raise AssertionError(f"worker {node} did not come up:\n{proc.log_tail()}") from None
    if not proc.alive():
        raise AssertionError(f"worker {node} exited:\n{proc.log_tail()}")
    return proc


def start_beat(tmp_path: Path, environ: dict[str, str]) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "aiworld", "beat", "-l", "INFO", "--pidfile="]
    return Proc("beat", argv, tmp_path / "beat.log", environ)
