"""A worker SIGKILLed in the middle of a late-acknowledged task: another worker runs it to
completion within 30 s and nothing is lost (celeryconfig.py: fast-family visibility timeout)."""

from __future__ import annotations

import ast
import time
import uuid

import pytest

from aiworld.celery import app
from tests.support.processes import start_worker, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def two_cpu_workers(worker_env, tmp_path):
    workers = [start_worker(tmp_path, "cpu", worker_env, pool="prefork", concurrency=1) for _ in range(2)]
    yield workers
    for worker in workers:
        worker.stop()


def test_killed_workers_task_completes_on_another_worker_within_30s(two_cpu_workers, broker):
    marker = f"redelivery:{uuid.uuid4().hex}"
    result = app.send_task("tests.hold_first_run", args=[marker, 12.0])
    first = ast.literal_eval(wait_for(lambda: broker.lindex(f"{marker}:started", 0), 20, what="first run").decode())
    victim = next(w for w in two_cpu_workers if w.name == first["worker"])
    survivor = next(w for w in two_cpu_workers if w is not victim)
    assert broker.hlen("unacked") == 1  # late ack: the message is held, not acknowledged

    victim.kill_hard()  # the worker and its pool child, as in a crash
    killed_at = time.monotonic()
    done = wait_for(lambda: broker.get(f"{marker}:done"), 30, interval=0.25, what="completion after the kill")
    elapsed = time.monotonic() - killed_at

    finished = ast.literal_eval(done.decode())
    assert finished["worker"] == survivor.name and finished["run"] == 2
    assert elapsed <= 30
    assert result.get(timeout=10)["worker"] == survivor.name
    assert int(broker.get(f"{marker}:runs")) == 2  # run once more, not lost and not multiplied
    wait_for(lambda: broker.hlen("unacked") == 0, 10, what="the redelivered message acknowledged")
    print(f"redelivered and completed {elapsed:.1f} s after SIGKILL")
