"""Prometheus metrics shared by the farm's processes (multi-process safe).

Workers count their tasks through Celery signals; the web process serves everything at /metrics,
merged from PROMETHEUS_MULTIPROC_DIR (set by the launcher) plus live readings taken at scrape time
(queue backlogs, unresolved dead letters).
"""

from __future__ import annotations

import logging
import os
import time

from celery import signals
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("aiworld.metrics")

TASKS = Counter("aiworld_tasks_total", "Tasks finished by the farm", ["task", "queue", "state"])
TASK_RUNTIME = Histogram(
    "aiworld_task_runtime_seconds", "Task run time", ["task", "queue"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 600, 3600),
)

_started: dict[str, float] = {}


def _queue_of(task) -> str:
    info = getattr(getattr(task, "request", None), "delivery_info", None) or {}
    return info.get("routing_key") or ""


@signals.task_prerun.connect
def _on_prerun(task_id=None, **_: object) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _on_postrun(task_id=None, task=None, state=None, **_: object) -> None:
    started = _started.pop(task_id, None)
    name, queue = getattr(task, "name", "?"), _queue_of(task)
    TASKS.labels(name, queue, state or "UNKNOWN").inc()
    if started is not None:
        TASK_RUNTIME.labels(name, queue).observe(time.perf_counter() - started)


class LiveReadings:
    """Collector evaluated at scrape time in the web process."""

    def collect(self):
        import redis
        from django.conf import settings  # noqa: F401 - settings must be configured

        import celeryconfig
        from aiworld.protocol.envelope import queue_key

        backlog = GaugeMetricFamily("aiworld_queue_length", "Messages waiting per queue and priority step",
                                    labels=["queue", "priority"])
        try:
            client = redis.Redis.from_url(celeryconfig.broker_url, socket_timeout=1, socket_connect_timeout=1)
            pipe = client.pipeline()
            keys = [(q, p) for q in celeryconfig.QUEUES for p in celeryconfig.PRIORITY_STEPS]
            for queue, priority in keys:
                pipe.llen(queue_key(queue, priority))
            for (queue, priority), length in zip(keys, pipe.execute(), strict=True):
                backlog.add_metric([queue, str(priority)], length)
        except redis.RedisError as exc:
            log.warning("metrics: broker unreachable: %s", exc)
        yield backlog

        dead = GaugeMetricFamily("aiworld_dead_letters_unresolved", "Dead letters no GM has resolved yet")
        try:
            from aiworld.models import DeadLetter

            dead.add_metric([], DeadLetter.objects.filter(resolved_at__isnull=True).count())
        except Exception as exc:  # database down: leave the gauge out, keep the scrape working
            log.warning("metrics: database unreachable: %s", exc)
            return
        yield dead


def render() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry  # single process (development shell)
    live = CollectorRegistry()
    live.register(LiveReadings())
    return generate_latest(registry) + generate_latest(live)
