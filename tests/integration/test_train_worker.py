"""A real `train` worker trains a member from a queued task, records the run in the registry, and a
duplicate delivery of the same payload does not train it again."""

from __future__ import annotations

import pytest

import aiworld.tasks  # noqa: F401 - registers the tasks for send_task's routing
from aiworld.celery import app
from tests.support.processes import start_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def train_worker(worker_env, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    proc = start_worker(tmp_path_factory.mktemp("train"), "train", {**worker_env, "AIWORLD_MODELS_DIR": str(models)},
                        pool="prefork", concurrency=1)
    try:
        yield proc, models
    finally:
        proc.stop()


@pytest.mark.django_db(transaction=True)
def test_a_train_task_trains_and_records_a_member(train_worker):
    from aiworld.models import TrainingRun

    proc, models = train_worker
    payload = {"archetype": "ranged", "model_type": "combat_dqn", "version": 7, "scale": 0.002}
    metrics = app.send_task("aiworld.train.train_member", args=[payload]).get(timeout=240)
    assert metrics["algorithm"] == "dqn" and metrics["steps"] >= 600
    run = TrainingRun.objects.get(archetype="ranged", model_type="combat_dqn", version=7)
    assert run.status == "succeeded" and run.worker == proc.name
    weights = models / "ranged" / "v7" / "combat_dqn.pt"
    assert weights.exists()
    before = weights.stat().st_mtime_ns

    again = app.send_task("aiworld.train.train_member", args=[payload]).get(timeout=60)
    assert again == run.metrics and weights.stat().st_mtime_ns == before  # the duplicate changed nothing
