"""Field checks shared by the NPC-side payloads (dialogue, quests, reports): each failure is a
PayloadError that names the field, so a map-server developer sees exactly what to fix."""

from __future__ import annotations

from aiworld.errors import PayloadError

DEFAULT_REPLY_TTL_S = 60
MAX_REPLY_TTL_S = 3600


def require_text(payload: dict, field: str, *, max_length: int) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"bad_{field}", f"{field!r} must be a non-empty string")
    if len(value) > max_length:
        raise PayloadError(f"bad_{field}", f"{field!r} is {len(value)} characters long; at most {max_length}")
    return value


def require_int(payload: dict, field: str, low: int, high: int) -> int:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PayloadError(f"bad_{field}", f"{field!r} must be an integer in [{low}, {high}], got {value!r}")
    return value


def optional_int(payload: dict, field: str, low: int, high: int, default: int) -> int:
    return default if payload.get(field) is None else require_int(payload, field, low, high)


def optional_reply_key(payload: dict) -> tuple[str | None, int]:
    """(reply_to, ttl). Without reply_to the result is only in the result backend."""
    reply_to = payload.get("reply_to")
    if reply_to is not None and (not isinstance(reply_to, str) or not reply_to or len(reply_to) > 200):
        raise PayloadError("bad_reply_to", "reply_to must be a non-empty string of at most 200 characters")
    ttl = payload.get("reply_ttl_s", DEFAULT_REPLY_TTL_S)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_REPLY_TTL_S:
        raise PayloadError("bad_reply_ttl_s", f"reply_ttl_s must be an integer in [1, {MAX_REPLY_TTL_S}]")
    return reply_to, ttl
