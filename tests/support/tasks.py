"""Tasks that exist only for the tests; workers load them with `--include tests.support.tasks`."""

from __future__ import annotations

import os
import socket
import time

import redis
from celery import shared_task

from aiworld.tasks.base import IdempotentTask


def _client(task) -> redis.Redis:
    return redis.Redis.from_url(task.app.conf.broker_url)


@shared_task(name="tests.hold_first_run", bind=True, base=IdempotentTask)
def hold_first_run(self, marker: str, hold_s: float) -> dict:
    """First delivery: announce where it runs, then hold (to be killed). Later ones finish at once."""
    client = _client(self)
    run = client.incr(f"{marker}:runs")
    where = {"worker": self.request.hostname, "pid": os.getpid(), "host": socket.gethostname(), "run": run}
    client.rpush(f"{marker}:started", repr(where))
    if run == 1:
        time.sleep(hold_s)
    client.set(f"{marker}:done", repr(where))
    return where


@shared_task(name="tests.record", bind=True, base=IdempotentTask)
def record(self, key: str, value: str) -> None:
    """Append a value to a Redis list: the order of the list is the order the tasks ran in."""
    _client(self).rpush(key, value)


@shared_task(name="tests.where", bind=True, base=IdempotentTask)
def where(self, hold_s: float = 0.0) -> dict:
    """Where a task ran; holds for a while when asked, to observe it in flight."""
    if hold_s:
        time.sleep(hold_s)
    return {"worker": self.request.hostname, "queue": (self.request.delivery_info or {}).get("routing_key")}
