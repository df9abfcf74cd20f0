"""celeryconfig.py: routes, per-queue time limits, acknowledgement and redelivery settings."""

import pytest

import aiworld.tasks  # noqa: F401 - registers the tasks
import celeryconfig
from aiworld.celery import app


@pytest.mark.parametrize(("task", "queue"), [("aiworld.mobs.decide", "gpu"), ("aiworld.npc.dialogue", "cpu"),
                                             ("aiworld.train.model", "train"), ("aiworld.ops.echo", "cpu"),
                                             ("something.else", "cpu")])
def test_routes(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue
    assert celeryconfig.queue_for_task(task) == queue


def test_every_task_gets_its_queue_time_limits():
    echo = app.tasks["aiworld.ops.echo"]
    spec = celeryconfig.QUEUES["cpu"]
    assert (echo.soft_time_limit, echo.time_limit) == (spec.soft_time_limit, spec.time_limit)
    for spec in celeryconfig.QUEUES.values():
        assert 0 < spec.soft_time_limit < spec.time_limit


def test_idempotent_tasks_are_acknowledged_late():
    echo = app.tasks["aiworld.ops.echo"]
    assert echo.acks_late and echo.reject_on_worker_lost


def test_visibility_timeouts_exceed_the_longest_task_of_their_family():
    fast = app.conf.broker_transport_options
    assert fast["visibility_timeout"] > max(celeryconfig.QUEUES[q].time_limit for q in ("gpu", "cpu"))
    train = celeryconfig.TRAIN_TRANSPORT_OPTIONS
    assert train["visibility_timeout"] > celeryconfig.QUEUES["train"].time_limit
    assert train["unacked_key"] != fast.get("unacked_key", "unacked")


def test_a_killed_fast_workers_messages_come_back_within_30_seconds_by_configuration():
    fast = app.conf.broker_transport_options
    sweep = fast["unacked_restore_interval"] * fast["unacked_restore_throttle"]
    assert fast["visibility_timeout"] + sweep <= 30


def test_json_only():
    assert app.conf.accept_content == ["json"] and app.conf.task_serializer == "json"
    assert app.conf.result_accept_content == ["json"]
