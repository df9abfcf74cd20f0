"""Operational tasks: round-trip probes used by `doctor` and by map-server developers."""

from __future__ import annotations

from celery import shared_task

from aiworld.services import ops
from aiworld.tasks.base import IdempotentTask, PayloadError


@shared_task(name="aiworld.ops.echo", bind=True, base=IdempotentTask)
def echo(self, payload: dict) -> dict:
    """Return the payload with where it ran. Routed to `cpu`; send it to any queue to probe it."""
    if not isinstance(payload, dict):
        raise PayloadError("payload_not_object", f"expected a JSON object, got {type(payload).__name__}")
    delivery = self.request.delivery_info or {}
    return ops.echo(payload, worker=self.request.hostname or "", queue=delivery.get("routing_key") or "")
