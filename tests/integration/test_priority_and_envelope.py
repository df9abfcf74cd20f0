"""The broker-level contract: priority lists are served 0 first, and our hand-built envelope has
everything Celery itself writes to the queue."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from aiworld.celery import app
from aiworld.protocol.envelope import build_message, encode, queue_key
from tests.support.processes import start_worker, wait_for

pytestmark = pytest.mark.integration


def test_priority_zero_is_served_first(worker_env, broker, tmp_path):
    queue = f"prio-{uuid.uuid4().hex[:8]}"
    key = f"{queue}:order"
    for priority in (9, 6, 3, 0):  # pushed lowest-priority first, before any worker listens
        message = build_message("tests.record", [key, str(priority)], {}, queue=queue, priority=priority)
        broker.lpush(queue_key(queue, priority), encode(message))
    worker = start_worker(tmp_path, queue, worker_env, pool="solo")
    try:
        wait_for(lambda: broker.llen(key) == 4, 20, what="all four tasks run")
    finally:
        worker.stop()
    assert [v.decode() for v in broker.lrange(key, 0, -1)] == ["0", "3", "6", "9"]


def test_hand_built_envelope_has_every_field_celery_writes(broker):
    queue = f"probe-{uuid.uuid4().hex[:8]}"  # nobody consumes it: the message stays for inspection
    app.send_task("aiworld.ops.echo", args=[{"x": 1}], queue=queue, routing_key=queue, priority=3)
    raw = wait_for(lambda: broker.lindex(queue_key(queue, 3), 0), 5, what="message in the queue")
    celery_message = json.loads(raw)
    ours = build_message("aiworld.ops.echo", [{"x": 1}], {}, queue=queue, priority=3)
    broker.delete(queue_key(queue, 3))

    celery_only = {"stamped_headers", "stamps", "replaced_task_nesting"}  # canvas internals, optional
    assert set(celery_message["headers"]) <= set(ours["headers"]) | celery_only
    assert set(celery_message["properties"]) <= set(ours["properties"])
    for field in ("content-type", "content-encoding"):
        assert celery_message[field] == ours[field]
    for field in ("body_encoding", "priority", "delivery_mode"):
        assert celery_message["properties"][field] == ours["properties"][field]
    assert celery_message["properties"]["delivery_info"]["routing_key"] == queue
    assert json.loads(base64.b64decode(celery_message["body"])) == json.loads(base64.b64decode(ours["body"]))
