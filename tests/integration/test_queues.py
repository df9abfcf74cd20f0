"""One real worker per queue (as the Procfile runs them) plus beat: routing, the raw-Redis producer
contract, bad payloads, the train family's own unacked keys, and doctor on a healthy farm."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import aiworld.tasks  # noqa: F401 - registers the tasks for send_task's routing
from aiworld.celery import app
from aiworld.env import PROJECT_ROOT
from aiworld.protocol import reference_producer
from tests.support.processes import start_beat, start_worker, wait_for

pytestmark = pytest.mark.integration

POOLS = {"gpu": ("solo", 1), "cpu": ("prefork", 2), "train": ("prefork", 1)}


@pytest.fixture(scope="module")
def farm(worker_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("farm")
    procs = {}
    try:
        for queue, (pool, concurrency) in POOLS.items():
            procs[queue] = start_worker(tmp, queue, worker_env, pool=pool, concurrency=concurrency)
        procs["beat"] = start_beat(tmp, worker_env)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.mark.parametrize("queue", ["gpu", "cpu", "train"])
def test_each_queue_is_consumed_by_its_own_worker(farm, queue):
    result = app.send_task("aiworld.ops.echo", args=[{"queue": queue}], queue=queue, routing_key=queue)
    reply = result.get(timeout=20)
    assert reply["echo"] == {"queue": queue}
    assert reply["queue"] == queue
    assert reply["worker"] == farm[queue].name


def test_routed_task_reaches_the_cpu_worker_without_naming_a_queue(farm):
    reply = app.send_task("aiworld.ops.echo", args=[{"routed": True}]).get(timeout=20)
    assert reply["worker"] == farm["cpu"].name


@pytest.mark.parametrize("queue", ["cpu", "gpu"])
def test_hand_built_envelope_pushed_with_raw_redis_runs_and_its_result_is_readable(farm, broker, queue):
    document = reference_producer.call(broker, "aiworld.ops.echo", [{"from": "map-server"}], {}, queue=queue,
                                       timeout=20)
    assert document["status"] == "SUCCESS", document
    assert document["result"]["echo"] == {"from": "map-server"}
    assert document["result"]["worker"] == farm[queue].name
    # The result stays readable with a plain GET afterwards, as a C++ client would read it.
    assert reference_producer.read_result(broker, document["task_id"])["status"] == "SUCCESS"


def test_reference_producer_command_line(farm, worker_env):
    result = subprocess.run(
        [sys.executable, "-m", "aiworld.protocol.reference_producer", "--url", worker_env["BROKER_URL"],
         "--queue", "cpu", "--task", "aiworld.ops.echo", "--args", '[{"cli": 1}]', "--wait", "20"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=worker_env)
    assert result.returncode == 0, result.stderr
    assert '"cli": 1' in result.stdout and '"SUCCESS"' in result.stdout


def test_train_worker_keeps_its_deliveries_under_the_train_unacked_keys(farm, broker):
    result = app.send_task("tests.where", kwargs={"hold_s": 3.0}, queue="train", routing_key="train")
    wait_for(lambda: broker.hlen("unacked_train") == 1, 15, what="delivery recorded in unacked_train")
    assert broker.hlen("unacked") == 0
    assert result.get(timeout=20)["queue"] == "train"
    wait_for(lambda: broker.hlen("unacked_train") == 0, 10, what="late ack removes it")


def test_doctor_passes_when_the_farm_is_up(farm, worker_env):
    import celeryconfig

    try:
        wait_for(lambda: app.backend.client.get(celeryconfig.BEAT_HEARTBEAT_KEY), 30, what="beat heartbeat")
    except TimeoutError:
        raise AssertionError(f"no beat heartbeat:\n{farm['beat'].log_tail()}") from None
    result = subprocess.run([sys.executable, "manage.py", "doctor"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, env=worker_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("database", "broker", "worker:gpu", "worker:cpu", "worker:train", "beat"):
        line = next(line for line in result.stdout.splitlines() if f" {name} " in f" {line} ")
        assert line.startswith("OK"), line
    assert "doctor: all checks passed" in result.stdout


def test_doctor_fails_when_beat_stops(farm, worker_env, broker):
    import celeryconfig

    farm["beat"].stop()
    broker.set(celeryconfig.BEAT_HEARTBEAT_KEY, f"{time.time() - 120:.3f}")
    result = subprocess.run([sys.executable, "manage.py", "doctor", "--timeout", "5"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, env=worker_env)
    assert result.returncode == 1
    assert any(line.startswith("FAIL beat") for line in result.stdout.splitlines()), result.stdout


def test_the_byte_exact_example_in_docs_protocol_runs_as_written(farm, broker):
    text = (PROJECT_ROOT / "docs" / "protocol.md").read_text()
    example = text.split("<!-- example:echo -->", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    task_id = "5b0e6f5e-3d1a-4c1e-9f43-2f7c1d2a9e10"
    broker.delete(f"celery-task-meta-{task_id}")
    broker.lpush("cpu", example.encode())
    def finished():
        document = reference_producer.read_result(broker, task_id)
        return document if document and document["status"] in ("SUCCESS", "FAILURE") else None

    document = wait_for(finished, 20, what="the example's result")
    assert document["status"] == "SUCCESS"
    assert document["result"]["echo"] == {"hello": "map-server"}
