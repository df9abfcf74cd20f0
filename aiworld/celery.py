"""The Celery application. All configuration lives in celeryconfig.py."""

from __future__ import annotations

import logging
import os

from celery import Celery, signals

from aiworld.mobs.consumer import DirectConsumerStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")

app = Celery("aiworld")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["aiworld"])
app.steps["consumer"].add(DirectConsumerStep)  # the gpu queue's own consumer, where celeryconfig turns it on

log = logging.getLogger("aiworld.celery")


@signals.worker_init.connect
def _connect_task_metrics(**_: object) -> None:
    import aiworld.metrics  # noqa: F401 - connects the task signals before the pool forks


def _queue_names(queues: object) -> set[str]:
    if not queues:
        return set()
    if isinstance(queues, str):
        return {q.strip() for q in queues.split(",") if q.strip()}
    return {str(q) for q in queues}  # type: ignore[union-attr]


_worker_queues: set[str] = set()


@signals.worker_ready.connect
def _prewarm_npc_memory(**_: object) -> None:
    """A cpu worker that starts enqueues the NPC memory prewarm (aiworld.npc.memory_prewarm): after a
    restart of PostgreSQL, retrieval would otherwise read every page from disk. The task itself runs
    once per PostgreSQL start, however many workers start or restart."""
    from aiworld import env

    if "cpu" not in _worker_queues or not env.get_bool("AIWORLD_MEMORY_PREWARM", True):
        return
    try:
        app.send_task("aiworld.npc.memory_prewarm")
    except Exception as exc:  # a convenience: never keep a worker from starting
        log.warning("NPC memory prewarm not enqueued: %s", exc)


@signals.celeryd_init.connect
def _configure_for_queues(sender=None, conf=None, options=None, **_: object) -> None:
    """What depends on a worker's queues: a gpu worker logs no line per task, a worker consuming
    `train` keeps its deliveries under the train family's unacked keys, and the queues are kept for
    worker_ready (a cpu worker starts the NPC memory prewarm)."""
    import celeryconfig

    queues = _queue_names((options or {}).get("queues"))
    _worker_queues.update(queues)
    if "gpu" in queues:
        # A map server sends a message per map per 100 ms tick: Celery's two INFO lines per task
        # ("received", "succeeded") would be hundreds of lines a second, and formatting them was
        # measured on the hot path. Failures still log; the metrics count every message.
        for name in ("celery.worker.strategy", "celery.app.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if "train" in queues:
        if queues - {"train"}:
            log.warning(
                "worker consumes %s together with train: all its deliveries use the train visibility "
                "timeout (%ss), so a crash returns its fast messages late",
                sorted(queues),
                celeryconfig.TRAIN_TRANSPORT_OPTIONS["visibility_timeout"],
            )
        conf.broker_transport_options = dict(celeryconfig.TRAIN_TRANSPORT_OPTIONS)
