"""Game-facing NPC and world tasks on the `cpu` queue (payloads and replies: docs/protocol.md §6-§8).

Each task decodes its payload, calls one operation (aiworld/npc/operations.py) and delivers the
reply document on the caller's reply key (and as the task result). Bad input: an error document on
the reply key, the task fails with the PayloadError (never retried) and the payload is kept as a
dead letter for GMs.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import shared_task

from aiworld.errors import PayloadError, TransientError
from aiworld.npc import delivery, operations
from aiworld.npc.payloads import optional_reply_key
from aiworld.tasks.base import IdempotentTask


def _last_try() -> bool:
    from celery import current_task

    request = current_task.request if current_task else None
    return request is None or (request.retries or 0) >= IdempotentTask.max_retries


def _serve(payload: object, handler: Callable[[dict], dict]) -> dict:
    reply_to, ttl = None, 60
    ids: dict = {}
    try:
        if not isinstance(payload, dict):
            raise PayloadError("bad_payload", "the task's argument must be a JSON object")
        ids = {k: payload[k] for k in ("request_id", "server") if isinstance(payload.get(k), str | int)}
        reply_to, ttl = optional_reply_key(payload)
        document = handler(payload)
    except PayloadError as error:
        if isinstance(payload, dict) and isinstance(payload.get("reply_to"), str) and reply_to is None:
            reply_to = payload["reply_to"][:200]  # a bad TTL still deserves an answer
        delivery.deliver(reply_to, ttl, delivery.error_document(error.code, error.message, **ids))
        raise
    except Exception as error:  # a bug or an outage: the player must not wait for a reply that never comes
        if not isinstance(error, TransientError) or _last_try():
            delivery.deliver(reply_to, ttl, delivery.error_document(
                "internal_error", f"{type(error).__name__}: the request could not be answered; GMs see the details "
                "in the worker log", **ids))
        raise
    delivery.deliver(reply_to, ttl, document)
    return document


@shared_task(name="aiworld.npc.dialogue", base=IdempotentTask)
def dialogue(payload: dict) -> dict:
    """A player says something to an NPC; the NPC answers in persona."""
    return _serve(payload, operations.dialogue_op)


@shared_task(name="aiworld.npc.quest_request", base=IdempotentTask)
def quest_request(payload: dict) -> dict:
    """The NPC's open quest offer to the player, or a new one."""
    return _serve(payload, operations.quest_request)


@shared_task(name="aiworld.npc.quest_progress", base=IdempotentTask)
def quest_progress(payload: dict) -> dict:
    """One game event (kill, item, place...) applied to a player's quest."""
    return _serve(payload, operations.quest_progress)


@shared_task(name="aiworld.npc.quest_complete", base=IdempotentTask)
def quest_complete(payload: dict) -> dict:
    """Turn in a quest whose objectives are done: rewards and reputation."""
    return _serve(payload, operations.quest_complete)


@shared_task(name="aiworld.npc.decide", base=IdempotentTask)
def npc_decide(payload: dict) -> dict:
    """What an NPC does next (move, trade, talk, rest...) from the decision agent."""
    return _serve(payload, operations.npc_decide)


@shared_task(name="aiworld.world.report_economy", base=IdempotentTask)
def report_economy(payload: dict) -> dict:
    """Trades and drops seen by a map server; duplicates by report id are ignored."""
    return _serve(payload, operations.report_economy)


@shared_task(name="aiworld.world.report_state", base=IdempotentTask)
def report_state(payload: dict) -> dict:
    """The latest state of one map (players online, weather, time of day...)."""
    return _serve(payload, operations.report_state)
