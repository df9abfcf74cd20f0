"""Dead letters: record bad input where a GM can see it, and let GMs mark it handled."""

from __future__ import annotations

import json
import logging

from django.db.models import QuerySet
from django.utils import timezone

from aiworld.models import DeadLetter

log = logging.getLogger("aiworld.dead_letters")
MAX_PAYLOAD_CHARS = 1_000_000


def _as_text(payload: object) -> str:
    if isinstance(payload, bytes):
        text = payload.decode("utf-8", errors="replace")
    elif isinstance(payload, str):
        text = payload
    else:
        try:
            text = json.dumps(payload, default=repr)
        except (TypeError, ValueError):
            text = repr(payload)
    return text[:MAX_PAYLOAD_CHARS]


def record_dead_letter(
    *, task_name: str, error_code: str, error_message: str, payload: object,
    task_id: str = "", queue: str = "", source: str = "",
) -> DeadLetter | None:
    """Store a dead letter. Never raises: losing the record must not kill the worker."""
    try:
        return DeadLetter.objects.create(
            task_name=task_name[:200], task_id=(task_id or "")[:200], queue=(queue or "")[:40],
            source=(source or "")[:200], error_code=error_code[:60], error_message=error_message,
            payload=_as_text(payload),
        )
    except Exception:  # database down: the log line is the last record left
        log.exception("could not record dead letter for %s (%s: %s)", task_name, error_code, error_message)
        return None


def resolve_dead_letters(queryset: QuerySet[DeadLetter]) -> int:
    """Mark unresolved dead letters handled; returns how many changed."""
    return queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
