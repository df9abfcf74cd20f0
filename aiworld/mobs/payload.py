"""Decode and validate one `aiworld.mobs.decide` batch, and build its reply (docs/protocol.md §5).

A message-level problem that leaves no way to answer (no reply key, not an object) raises
PayloadError. Anything else is per request: a bad request gets an error entry in the reply and the
rest of the batch is answered.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import numpy as np
import orjson
import pybase64

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


# The fields of a request, with the value an absent optional one takes.
_FIELDS = {"rid": None, "mob": 0, "class": 0, "archetype": None, "pack": None, "difficulty": None, "state": None}
# Compact state forms: payload key -> little-endian dtype of the n x 64 block.
_PACKED_STATES = {"states_b64": "<f4", "states_f16_b64": "<f2"}


def decode(payload: object) -> Batch:
    """Validate a decide payload. Raises PayloadError only when no reply can be sent."""
    if not isinstance(payload, dict):
        raise PayloadError("payload_not_object", f"expected a JSON object, got {type(payload).__name__}")
    reply_to, ttl = _reply_target(payload)
    server = str(payload.get("server", ""))[:100]
    tick = payload.get("tick", 0)
    tick = tick if _int(tick, 0, UINT64_MAX) is not None else 0

    def failed(code: str, message: str) -> Batch:
        return _all_failed(payload, server, tick, reply_to, ttl, code, message)

    if payload.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        return failed("unsupported_version",
                      f"protocol version {payload.get('v')!r} is not supported (this farm speaks v{PROTOCOL_VERSION})")
    try:
        raw = _raw_columns(payload)
    except ValueError as exc:
        return failed("bad_monsters", str(exc))

    errors: list[RequestError] = []
    total = len(raw["rid"])
    if total > MAX_BATCH:
        for value in raw["rid"][MAX_BATCH:]:
            errors.append(RequestError(_int(value, 0, UINT64_MAX), "batch_too_large",
                                       f"a batch holds at most {MAX_BATCH} monsters"))
        raw = {name: values[:MAX_BATCH] for name, values in raw.items()}

    packed = None
    forms = [key for key in _PACKED_STATES if key in payload]
    if len(forms) > 1:
        return failed("bad_states_b64", f"send one of {', '.join(forms)}, not both")
    if forms:
        key, dtype = forms[0], _PACKED_STATES[forms[0]]
        width = np.dtype(dtype).itemsize
        try:
            block = pybase64.b64decode(payload[key], validate=True)  # SIMD: 45x the standard library's speed
            if len(block) != total * STATE_SIZE * width:
                raise ValueError(f"{len(block)} bytes for {total} monsters; expected "
                                 f"{total * STATE_SIZE * width} (64 little-endian {np.dtype(dtype).name} each)")
            packed = np.frombuffer(block, dtype=dtype).reshape(total, STATE_SIZE)[: len(raw["rid"])]
        except (ValueError, TypeError, binascii.Error) as exc:
            return failed("bad_states_b64", f"{key}: {exc}")

    n = len(raw["rid"])
    ok = raw.pop("_object")  # rows that were not JSON objects are rejected already
    for _ in range(n - int(ok.sum())):
        errors.append(RequestError(None, "bad_request", "each monster must be a JSON object"))

    # Columns first, checked with numpy; the per-request checks run only where something is off.
    raw_packs = [-1 if value is None else value for value in raw["pack"]] if None in raw["pack"] else raw["pack"]
    try:  # every name known (the usual case): one pass in C
        archetypes = np.fromiter(map(_ARCHETYPE_INDEX.get, raw["archetype"]), np.int8, n)
    except TypeError:  # an unknown name (None) or a value that is not a string: -1, rejected below
        archetypes = np.asarray([_ARCHETYPE_INDEX.get(a, -1) if type(a) is str else -1 for a in raw["archetype"]],
                                dtype=np.int8)
    columns = (_column(raw["rid"], np.uint64, 0, UINT64_MAX), _column(raw["mob"], np.int64, -(2**63), 2**63 - 1),
               _column(raw["class"], np.int32, 0, 2**31 - 1), _column(raw_packs, np.int64, -1, 2**63 - 1))
    suspect = archetypes < 0
    if any(column is None for column in columns):
        suspect[:] = True
    difficulty = np.ones(n, dtype=np.float32)
    knobs = raw["difficulty"]
    for i, knob in enumerate(knobs if knobs.count(None) < n else ()):  # usually none is sent
        if knob is not None:
            if isinstance(knob, bool) or not isinstance(knob, int | float) or not 0.0 <= knob <= 1.0:
                suspect[i] = True
            else:
                difficulty[i] = knob
    if packed is not None:
        states = packed.astype(np.float32)
    else:
        states = np.zeros((n, STATE_SIZE), dtype=np.float32)
        for i, state in enumerate(raw["state"]):
            try:
                if not isinstance(state, list) or len(state) != STATE_SIZE:
                    raise ValueError
                states[i] = np.asarray(state, dtype=np.float32)
            except (TypeError, ValueError):
                suspect[i] = True

    for i in np.flatnonzero(ok & suspect).tolist():
        problem = _request_problem({name: values[i] for name, values in raw.items()}, packed is None)
        if problem is not None:
            errors.append(problem)
            ok[i] = False
    if any(column is None for column in columns):  # rebuild leniently: bad rows are rejected anyway
        columns = tuple(np.array([v if _int(v, low, high) is not None else default for v in values], dtype)
                        for values, dtype, low, high, default in (
                            (raw["rid"], np.uint64, 0, UINT64_MAX, 0), (raw["mob"], np.int64, -(2**63), 2**63 - 1, 0),
                            (raw["class"], np.int32, 0, 2**31 - 1, 0), (raw_packs, np.int64, -1, 2**63 - 1, -1)))
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
    np.clip(states, 0.0, 1.0, out=states)
    if ok.all():  # the usual case: no copies
        return Batch(server=server, tick=int(tick), reply_to=reply_to, reply_ttl_s=ttl, request_ids=rids,
                     mob_ids=mobs, class_ids=classes, archetype_ids=archetypes, states=states, pack_ids=packs,
                     difficulty=difficulty, errors=errors)
    return Batch(server=server, tick=int(tick), reply_to=reply_to, reply_ttl_s=ttl, request_ids=rids[ok],
                 mob_ids=mobs[ok], class_ids=classes[ok], archetype_ids=archetypes[ok],
                 states=states[ok], pack_ids=packs[ok], difficulty=difficulty[ok], errors=errors)


def _raw_columns(payload: dict) -> dict:
    """The requests as one list per field, from either form: `monsters` (an object per monster) or
    `columns` (an array per field, the faster form to write and to read). Absent optional fields
    take their defaults; `_object` marks the rows that were JSON objects. ValueError: neither form,
    or a malformed one."""
    monsters, columns = payload.get("monsters"), payload.get("columns")
    if (monsters is None) == (columns is None):
        raise ValueError("send the requests as either monsters (an array of objects) or columns (an object of "
                         "arrays), exactly one of them")
    if monsters is not None:
        if not isinstance(monsters, list):
            raise ValueError("monsters must be an array")
        is_object = [isinstance(item, dict) for item in monsters]
        items = [item if good else {} for item, good in zip(monsters, is_object, strict=True)]
        raw = {name: [item.get(name, default) for item in items] for name, default in _FIELDS.items()}
        raw["_object"] = np.asarray(is_object, dtype=bool)
        return raw
    if not isinstance(columns, dict) or not isinstance(columns.get("rid"), list):
        raise ValueError("columns must be an object whose rid (and other fields) are arrays")
    unknown = sorted(set(columns) - set(_FIELDS))
    if unknown:
        raise ValueError(f"columns: unknown field(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    n = len(columns["rid"])
    raw = {}
    for name, default in _FIELDS.items():
        values = columns.get(name)
        if values is None:
            values = [default] * n
        elif not isinstance(values, list) or len(values) != n:
            raise ValueError(f"columns.{name} must be an array of {n} values, one per rid")
        raw[name] = values
    raw["_object"] = np.ones(n, dtype=bool)
    return raw


def _column(values: list, dtype, low: int, high: int) -> np.ndarray | None:
    """The values as an array when every one is an integer in range, else None."""
    if values and set(map(type, values)) != {int}:  # not bool, float or str: set(map()) runs in C
        return None
    try:
        array = np.asarray(values, dtype=np.int64 if dtype is not np.uint64 else np.uint64)
    except (OverflowError, ValueError):
        return None
    if len(array) and (array.min() < low or array.max() > high):
        return None
    return array.astype(dtype, copy=False)


def _request_problem(item: dict, json_states: bool) -> RequestError | None:
    """The first problem of one request (its fields, defaults filled in), in the order the
    documentation lists them."""
    rid = _int(item["rid"], 0, UINT64_MAX)
    if rid is None:
        return RequestError(None, "bad_request_id", "rid must be an unsigned 64-bit integer")
    if type(item["archetype"]) is not str or item["archetype"] not in _ARCHETYPE_INDEX:
        return RequestError(rid, "unknown_archetype",
                            f"archetype {item['archetype']!r} is not one of {', '.join(ARCHETYPES)}")
    if _int(item["mob"], -(2**63), 2**63 - 1) is None or _int(item["class"], 0, 2**31 - 1) is None:
        return RequestError(rid, "bad_request", "mob must be a 64-bit and class a 32-bit integer")
    pack = item["pack"]
    if pack is not None and _int(pack, 0, 2**63 - 1) is None:
        return RequestError(rid, "bad_request", "pack must be a non-negative integer or absent")
    knob = 1.0 if item["difficulty"] is None else item["difficulty"]
    if isinstance(knob, bool) or not isinstance(knob, int | float) or not 0.0 <= knob <= 1.0:
        return RequestError(rid, "bad_difficulty", "difficulty must be a number in 0..1")
    if json_states:
        state = item["state"]
        if not isinstance(state, list) or len(state) != STATE_SIZE:
            got = len(state) if isinstance(state, list) else type(state).__name__
            return RequestError(rid, "bad_state_length", f"state must hold {STATE_SIZE} numbers, got {got}")
        try:
            np.asarray(state, dtype=np.float32)
        except (TypeError, ValueError):
            return RequestError(rid, "bad_state", "state values must be numbers")
    return None


def _all_failed(payload: dict, server: str, tick: int, reply_to: str, ttl: int, code: str, message: str) -> Batch:
    monsters, columns = payload.get("monsters"), payload.get("columns")
    if isinstance(monsters, list):
        found = [m.get("rid") if isinstance(m, dict) else None for m in monsters]
    elif isinstance(columns, dict) and isinstance(columns.get("rid"), list):
        found = columns["rid"]
    else:
        found = []
    rids = [_int(rid, 0, UINT64_MAX) for rid in found] or [None]
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
