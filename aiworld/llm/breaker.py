"""A circuit breaker per provider, shared by every worker through the Redis-protocol server.

closed -> (FAILURE_THRESHOLD consecutive failures) -> open for the cool-down -> half-open: exactly
one worker wins the probe (SET NX); its success closes the breaker, its failure re-opens it. While
the key server is unreachable the breaker lets calls through: the budget, not the breaker, is what
protects spend.
"""

from __future__ import annotations

import logging
from enum import Enum

import redis
from django.conf import settings

from aiworld.services import kv

log = logging.getLogger("aiworld.llm.breaker")

# Three failures in a row is past bad luck for a hosted API; 30 s lets a rate limit window or a
# restarting local server recover without hammering it. Settings of the same name override them
# (tests use a ~1 s cool-down).
FAILURE_THRESHOLD = 3
COOLDOWN_S = 30.0
# A 429's Retry-After is honoured up to this, so a bogus header cannot park a provider for a day.
MAX_RETRY_AFTER_S = 600.0
# The probe lock outlives the provider's timeout a little, so a probe worker that dies frees it.
PROBE_MARGIN_S = 5.0
# Failure counts fade: failures an hour apart are not "consecutive" in any useful sense.
FAILURE_MEMORY_S = 3600
PREFIX = "aiworld:llm:breaker"


class Gate(Enum):
    CLOSED = "closed"   # call normally
    PROBE = "probe"     # this worker tests a provider whose cool-down ended
    OPEN = "open"       # skip the provider


def _keys(provider_id: int) -> tuple[str, str, str, str]:
    base = f"{PREFIX}:{provider_id}"
    return f"{base}:failures", f"{base}:tripped", f"{base}:open", f"{base}:probe"


def threshold() -> int:
    return int(getattr(settings, "AIWORLD_LLM_BREAKER_THRESHOLD", FAILURE_THRESHOLD))


def cooldown_s() -> float:
    return float(getattr(settings, "AIWORLD_LLM_BREAKER_COOLDOWN_S", COOLDOWN_S))


def _warn(action: str, exc: Exception) -> None:
    log.warning("circuit breaker %s skipped, key server unreachable: %s", action, exc)


def gate(provider_id: int, timeout_s: float) -> Gate:
    """May this worker call the provider now? Taking the probe is atomic across workers."""
    _, tripped, open_key, probe = _keys(provider_id)
    try:
        client = kv.client()
        if not client.exists(tripped):  # the common case costs one round trip
            return Gate.CLOSED
        if client.exists(open_key):
            return Gate.OPEN
        won = client.set(probe, "1", nx=True, px=int((timeout_s + PROBE_MARGIN_S) * 1000))
        return Gate.PROBE if won else Gate.OPEN
    except redis.RedisError as exc:
        _warn("check", exc)
        return Gate.CLOSED


def is_open(provider_id: int) -> bool:
    """Read-only (no probe taken): True while the cool-down runs or another worker probes."""
    _, tripped, open_key, probe = _keys(provider_id)
    try:
        client = kv.client()
        is_tripped, is_cooling, probing = client.exists(tripped), client.exists(open_key), client.exists(probe)
        return bool(is_tripped and (is_cooling or probing))
    except redis.RedisError as exc:
        _warn("check", exc)
        return False


def state(provider_id: int) -> str:
    """For GMs: closed, open (cooling down) or half-open (the next call probes)."""
    _, tripped, open_key, _ = _keys(provider_id)
    try:
        client = kv.client()
        if not client.exists(tripped):
            return "closed"
        return "open" if client.exists(open_key) else "half-open"
    except redis.RedisError:
        return "unknown"


def record_success(provider_id: int) -> None:
    try:
        kv.client().delete(*_keys(provider_id))
    except redis.RedisError as exc:
        _warn("reset", exc)


def record_failure(provider_id: int, *, retry_after_s: float | None = None) -> bool:
    """Count a failure; returns True when the breaker is (re-)opened by it.

    A failed probe re-opens at once; a Retry-After opens at once too, since calls before it are
    refused anyway and the header tells us how long to stay away.
    """
    failures, tripped, open_key, probe = _keys(provider_id)
    try:
        client = kv.client()
        pipe = client.pipeline()
        pipe.incr(failures)
        pipe.expire(failures, FAILURE_MEMORY_S)
        pipe.exists(tripped)
        count, _, was_tripped = pipe.execute()
        if not (was_tripped or count >= threshold() or retry_after_s):
            return False
        pause = cooldown_s()
        if retry_after_s:
            pause = max(pause, min(retry_after_s, MAX_RETRY_AFTER_S))
        pipe = client.pipeline()
        pipe.set(tripped, "1", ex=86400)
        pipe.set(open_key, "1", px=max(1, int(pause * 1000)))
        pipe.delete(probe)
        pipe.execute()
        log.warning("circuit breaker for provider %s open for %.1f s after %s failure(s)", provider_id, pause, count)
        return True
    except redis.RedisError as exc:
        _warn("failure count", exc)
        return False


def reset(provider_id: int) -> None:
    """GM action: close the breaker now."""
    kv.client().delete(*_keys(provider_id))


def release_probe(provider_id: int) -> None:
    """Give the probe back unused (the call was refused before any request), so another worker may take it."""
    try:
        kv.client().delete(_keys(provider_id)[3])
    except redis.RedisError as exc:
        _warn("probe release", exc)
