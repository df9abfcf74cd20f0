"""Bad input through the real transport: a clear error for the caller, a dead letter for the GM,
nothing else lost, and the worker lives. (Its own module: the test must commit, and pytest-django
runs committing tests in a group of their own.)"""

from __future__ import annotations

import pytest

import aiworld.tasks  # noqa: F401 - registers the tasks for send_task's routing
from aiworld.celery import app
from aiworld.protocol import reference_producer
from tests.support.processes import start_worker, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cpu_worker(worker_env, tmp_path_factory):
    worker = start_worker(tmp_path_factory.mktemp("bad-input"), "cpu", worker_env, pool="prefork", concurrency=1)
    yield worker
    worker.stop()


@pytest.mark.django_db(transaction=True)
def test_bad_payload_fails_clearly_is_dead_lettered_and_the_worker_lives(cpu_worker, broker):
    from aiworld.models import DeadLetter

    document = reference_producer.call(broker, "aiworld.ops.echo", [["not", "an", "object"]], {}, queue="cpu",
                                       timeout=20)
    assert document["status"] == "FAILURE"
    assert document["result"]["exc_type"] == "PayloadError"
    assert "payload_not_object" in str(document["result"]["exc_message"])
    letter = wait_for(lambda: DeadLetter.objects.filter(task_id=document["task_id"]).first(), 10,
                      what="dead letter row")
    assert letter.error_code == "payload_not_object" and letter.queue == "cpu"
    assert '"not", "an", "object"' in letter.payload
    assert cpu_worker.alive()
    assert app.send_task("aiworld.ops.echo", args=[{"still": "alive"}]).get(timeout=20)["echo"] == {"still": "alive"}
