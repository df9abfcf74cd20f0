"""Base classes for aiworld tasks.

A task is an API: decode and validate the payload, call a service, deliver the result. Bad input
raises PayloadError: it is permanent (never retried), the caller gets the code and message as the
task's failure, and the payload is kept as a dead letter in the admin. TransientError is retried.
"""

from __future__ import annotations

import logging

from celery import Task

from aiworld.errors import PayloadError, TransientError

__all__ = ["IdempotentTask", "PayloadError", "TransientError"]

log = logging.getLogger("aiworld.tasks")


class IdempotentTask(Task):
    """A task that is safe to run twice (payloads carry ids), so it is acknowledged late.

    If its worker dies, the broker hands the message to another worker (celeryconfig.py explains
    the redelivery timing); a duplicate run must be harmless.
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = (TransientError,)
    retry_backoff = True
    retry_backoff_max = 30
    retry_jitter = True
    max_retries = 5

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # noqa: D401 - Celery hook
        if isinstance(exc, PayloadError):
            from aiworld.services.dead_letters import record_dead_letter

            delivery = self.request.delivery_info or {}
            record_dead_letter(
                task_name=self.name, task_id=task_id or "", queue=delivery.get("routing_key") or "",
                error_code=exc.code, error_message=exc.message, payload={"args": args, "kwargs": kwargs},
            )
        super().on_failure(exc, task_id, args, kwargs, einfo)
