"""The Celery application. All configuration lives in celeryconfig.py."""

from __future__ import annotations

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")

app = Celery("aiworld")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["aiworld"])

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


@signals.celeryd_init.connect
def _select_transport_family(sender=None, conf=None, options=None, **_: object) -> None:
    """A worker consuming `train` keeps its deliveries under the train family's unacked keys."""
    import celeryconfig

    queues = _queue_names((options or {}).get("queues"))
    if "train" in queues:
        if queues - {"train"}:
            log.warning(
                "worker consumes %s together with train: all its deliveries use the train visibility "
                "timeout (%ss), so a crash returns its fast messages late",
                sorted(queues),
                celeryconfig.TRAIN_TRANSPORT_OPTIONS["visibility_timeout"],
            )
        conf.broker_transport_options = dict(celeryconfig.TRAIN_TRANSPORT_OPTIONS)
