"""Decode and validate one `aiworld.mobs.decide` batch, and build its reply (docs/protocol.md §5).

A message-level problem that leaves no way to answer (no reply key, not an object) raises
PayloadError. Anything else is per request: a bad request gets an error entry in the reply and the
rest of the batch is answered.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import numpy as np
import orjson

from aiworld.errors import PayloadError
from aiworld.mobs.state import ARCHETYPES, STATE_SIZE

PROTOCOL_VERSION = 1
MAX_BATCH = 4096
MAX_REPLY_TTL_S = 300
DEFAULT_REPLY_TTL_S = 10
UINT64_MAX = 2**64 - 1
_ARCHETYPE_INDEX = {name: i for i, name in enumerate(ARCHETYPES)}


@dataclass
class RequestError:
    rid: int | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"rid": self.rid, "code": self.code, "message": self.message}


@dataclass
class Batch:
    """The valid requests of one message, as arrays, plus the errors of the invalid ones."""

    server: str
    tick: int
    reply_to: str
    reply_ttl_s: int
    request_ids: np.ndarray  # uint64[n]
    mob_ids: np.ndarray  # int64[n]
    class_ids: np.ndarray  # int32[n]
    archetype_ids: np.ndarray  # int8[n], index into ARCHETYPES
    states: np.ndarray  # float32[n, 64]
    pack_ids: np.ndarray  # int64[n], -1 when none
    difficulty: np.ndarray  # float32[n], 1.0 = full strength
    errors: list[RequestError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.request_ids)


def _reply_target(payload: dict) -> tuple[str, int]:
    reply_to = payload.get("reply_to")
    if not isinstance(reply_to, str) or not reply_to or len(reply_to) > 200:
        raise PayloadError("bad_reply_to", "reply_to must be a non-empty string (the Redis list to answer on)")
    ttl = payload.get("reply_ttl_s", DEFAULT_REPLY_TTL_S)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_REPLY_TTL_S:
        ttl = DEFAULT_REPLY_TTL_S
    return reply_to, ttl


def _int(value: object, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def decode(payload: object) -> Batch:
    """Validate a decide payload. Raises PayloadError only when no reply can be sent."""
    if not isinstance(payload, dict):
        raise PayloadError("payload_not_object", f"expected a JSON object, got {type(payload).__name__}")
    reply_to, ttl = _reply_target(payload)
    server = str(payload.get("server", ""))[:100]
    tick = payload.get("tick", 0)
    tick = tick if _int(tick, 0, UINT64_MAX) is not None else 0
    monsters = payload.get("monsters")
    if payload.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        message = f"protocol version {payload.get('v')!r} is not supported (this farm speaks v{PROTOCOL_VERSION})"
        return _all_failed(payload, server, tick, reply_to, ttl, "unsupported_version", message)
    if not isinstance(monsters, list):
        return _all_failed(payload, server, tick, reply_to, ttl, "bad_monsters", "monsters must be an array")

    errors: list[RequestError] = []
    total = len(monsters)
    if total > MAX_BATCH:
        for item in monsters[MAX_BATCH:]:
            rid = _int(item.get("rid"), 0, UINT64_MAX) if isinstance(item, dict) else None
            errors.append(RequestError(rid, "batch_too_large", f"a batch holds at most {MAX_BATCH} monsters"))
        monsters = monsters[:MAX_BATCH]

    packed = None
    if "states_b64" in payload:
        try:
            raw = base64.b64decode(payload["states_b64"], validate=True)
            if len(raw) != total * STATE_SIZE * 4:
                raise ValueError(f"{len(raw)} bytes for {total} monsters; expected "
                                 f"{total * STATE_SIZE * 4} (64 little-endian float32 each)")
            packed = np.frombuffer(raw, dtype="<f4").reshape(total, STATE_SIZE)[: len(monsters)]
        except (ValueError, TypeError, binascii.Error) as exc:
            return _all_failed(payload, server, tick, reply_to, ttl, "bad_states_b64", f"states_b64: {exc}")

    n = len(monsters)
    ok = np.ones(n, dtype=bool)
    if any(not isinstance(item, dict) for item in monsters):
        for i, item in enumerate(monsters):
            if not isinstance(item, dict):
                errors.append(RequestError(None, "bad_request", "each monster must be a JSON object"))
                ok[i] = False
        monsters = [item if isinstance(item, dict) else {} for item in monsters]

    # Columns first, checked with numpy; the per-request checks run only where something is off.
    raw_rids = [item.get("rid") for item in monsters]
    raw_mobs = [item.get("mob", 0) for item in monsters]
    raw_classes = [item.get("class", 0) for item in monsters]
    raw_packs = [item.get("pack", -1) for item in monsters]
    archetypes = np.asarray([_ARCHETYPE_INDEX.get(item.get("archetype"), -1) for item in monsters], dtype=np.int8)
    columns = (_column(raw_rids, np.uint64, 0, UINT64_MAX), _column(raw_mobs, np.int64, -(2**63), 2**63 - 1),
               _column(raw_classes, np.int32, 0, 2**31 - 1), _column(raw_packs, np.int64, -1, 2**63 - 1))
    suspect = archetypes < 0
    if any(column is None for column in columns):
        suspect[:] = True
    difficulty = np.ones(n, dtype=np.float32)
    for i, item in enumerate(monsters):
        knob = item.get("difficulty")
        if knob is not None:
            if isinstance(knob, bool) or not isinstance(knob, int | float) or not 0.0 <= knob <= 1.0:
                suspect[i] = True
            else:
                difficulty[i] = knob
    states = np.zeros((n, STATE_SIZE), dtype=np.float32)
    if packed is not None:
        states[:] = packed
    else:
        for i, item in enumerate(monsters):
            state = item.get("state")
            try:
                if not isinstance(state, list) or len(state) != STATE_SIZE:
                    raise ValueError
                states[i] = np.asarray(state, dtype=np.float32)
            except (TypeError, ValueError):
                suspect[i] = True

    for i in np.flatnonzero(ok & suspect).tolist():
        problem = _request_problem(monsters[i], _int(raw_rids[i], 0, UINT64_MAX), packed is None)
        if problem is not None:
            errors.append(problem)
            ok[i] = False
    if any(column is None for column in columns):  # rebuild leniently: bad rows are rejected anyway
        columns = (np.array([_int(v, 0, UINT64_MAX) or 0 for v in raw_rids], np.uint64),
                   np.array([_int(v, -(2**63), 2**63 - 1) or 0 for v in raw_mobs], np.int64),
                   np.array([_int(v, 0, 2**31 - 1) or 0 for v in raw_classes], np.int32),
                   np.array([_int(v, -1, 2**63 - 1) or -1 for v in raw_packs], np.int64))
    rids, mobs, classes, packs = columns

    states[~ok] = 0.5  # rejected already: keep them out of the value checks
    finite = np.isfinite(states).all(axis=1)
    in_range = ((states >= -1e-6) & (states <= 1 + 1e-6)).all(axis=1)
    for i in np.flatnonzero(ok & ~finite):
        errors.append(RequestError(int(rids[i]), "non_finite_state", "state holds NaN or infinity"))
    for i in np.flatnonzero(ok & finite & ~in_range):
        first = int(np.flatnonzero((states[i] < -1e-6) | (states[i] > 1 + 1e-6))[0])
        errors.append(RequestError(int(rids[i]), "state_out_of_range",
                                   f"state values must lie in [0, 1]; index {first} is {float(states[i, first])}"))
    ok &= finite & in_range
    return Batch(server=server, tick=int(tick), reply_to=reply_to, reply_ttl_s=ttl, request_ids=rids[ok],
                 mob_ids=mobs[ok], class_ids=classes[ok], archetype_ids=archetypes[ok],
                 states=np.clip(states[ok], 0.0, 1.0), pack_ids=packs[ok], difficulty=difficulty[ok], errors=errors)


def _column(values: list, dtype, low: int, high: int) -> np.ndarray | None:
    """The values as an array when every one is an integer in range, else None."""
    if not all(type(v) is int for v in values):
        return None
    try:
        array = np.asarray(values, dtype=np.int64 if dtype is not np.uint64 else np.uint64)
    except (OverflowError, ValueError):
        return None
    if len(array) and (array.min() < low or array.max() > high):
        return None
    return array.astype(dtype, copy=False)


def _request_problem(item: dict, rid: int | None, json_states: bool) -> RequestError | None:
    """The first problem of one request, in the order the documentation lists them."""
    if rid is None:
        return RequestError(None, "bad_request_id", "rid must be an unsigned 64-bit integer")
    if _ARCHETYPE_INDEX.get(item.get("archetype")) is None:
        return RequestError(rid, "unknown_archetype",
                            f"archetype {item.get('archetype')!r} is not one of {', '.join(ARCHETYPES)}")
    if _int(item.get("mob", 0), -(2**63), 2**63 - 1) is None or _int(item.get("class", 0), 0, 2**31 - 1) is None:
        return RequestError(rid, "bad_request", "mob must be a 64-bit and class a 32-bit integer")
    pack = item.get("pack")
    if pack is not None and _int(pack, 0, 2**63 - 1) is None:
        return RequestError(rid, "bad_request", "pack must be a non-negative integer or absent")
    knob = item.get("difficulty", 1.0)
    if isinstance(knob, bool) or not isinstance(knob, int | float) or not 0.0 <= knob <= 1.0:
        return RequestError(rid, "bad_difficulty", "difficulty must be a number in 0..1")
    if json_states:
        state = item.get("state")
        if not isinstance(state, list) or len(state) != STATE_SIZE:
            got = len(state) if isinstance(state, list) else type(state).__name__
            return RequestError(rid, "bad_state_length", f"state must hold {STATE_SIZE} numbers, got {got}")
        try:
            np.asarray(state, dtype=np.float32)
        except (TypeError, ValueError):
            return RequestError(rid, "bad_state", "state values must be numbers")
    return None


def _all_failed(payload: dict, server: str, tick: int, reply_to: str, ttl: int, code: str, message: str) -> Batch:
    monsters = payload.get("monsters") if isinstance(payload.get("monsters"), list) else []
    rids = [_int(m.get("rid"), 0, UINT64_MAX) if isinstance(m, dict) else None for m in monsters] or [None]
    empty = np.zeros(0)
    return Batch(server=server, tick=tick, reply_to=reply_to, reply_ttl_s=ttl,
                 request_ids=empty.astype(np.uint64), mob_ids=empty.astype(np.int64),
                 class_ids=empty.astype(np.int32), archetype_ids=empty.astype(np.int8),
                 states=np.zeros((0, STATE_SIZE), np.float32), pack_ids=empty.astype(np.int64),
                 difficulty=empty.astype(np.float32), errors=[RequestError(rid, code, message) for rid in rids])


def encode_reply(batch: Batch, decisions: list[dict], *, worker: str, task_id: str) -> bytes:
    reply = {
        "v": PROTOCOL_VERSION,
        "server": batch.server,
        "tick": batch.tick,
        "task_id": task_id,
        "worker": worker,
        "decisions": decisions,
        "errors": [error.as_dict() for error in batch.errors],
    }
    return orjson.dumps(reply)  # ~10x faster than json.dumps on thousands of decisions
