"""doctor with the broker down: a failing line with advice, a non-zero exit, and no hang."""

import subprocess
import sys
import time

import pytest

from aiworld.embedded import free_port
from aiworld.env import PROJECT_ROOT
from tests.support.processes import subprocess_env

pytestmark = pytest.mark.integration


def test_doctor_fails_fast_when_the_broker_is_down(worker_env):
    environ = {**worker_env, "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    environ.pop("RESULT_BACKEND_URL", None)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "manage.py", "doctor"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, env=environ)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    broker = next(line for line in lines if line.startswith("FAIL broker"))
    assert "make run" in broker and "BROKER_URL" in broker
    assert any(line.startswith("OK   database") for line in lines), result.stdout
    assert any(line.startswith("SKIP worker:gpu") for line in lines)
    assert time.monotonic() - started < 60


def test_doctor_fails_when_the_database_is_down():
    environ = subprocess_env(DATABASE_URL=f"postgres://nobody@127.0.0.1:{free_port()}/aiworld")
    result = subprocess.run([sys.executable, "manage.py", "doctor", "--timeout", "3"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, env=environ)
    assert result.returncode == 1
    assert any(line.startswith("FAIL database") for line in result.stdout.splitlines()), result.stdout
