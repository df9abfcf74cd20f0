"""Producer side of monster decisions, as a map server does it with raw Redis commands: build a
tick's `aiworld.mobs.decide` message, push it, read the reply. Used by the simulated map server,
the benchmarks and the tests; docs/protocol.md §5 is the same contract in words."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiworld.protocol.envelope import build_message, encode, queue_key

TASK = "aiworld.mobs.decide"
QUEUE = "gpu"


STATE_FORMS = ("f32", "f16", "json")
LAYOUTS = ("rows", "columns")


def decide_payload(*, server: str, tick: int, reply_to: str, request_ids: Sequence[int], mob_ids: Sequence[int],
                   class_ids: Sequence[int], archetypes: Sequence[str], states: np.ndarray,
                   packs: Sequence[int | None] | None = None, difficulty: Sequence[float] | None = None,
                   state_form: str = "f32", layout: str = "rows", reply_ttl_s: int = 10) -> dict:
    """The payload (the task's one argument), in any of the forms docs/protocol.md §5 accepts.

    state_form: "f32" one base64 block of little-endian float32 (`states_b64`), "f16" the same in
    half precision (`states_f16_b64`, half the bytes), "json" an array of numbers per monster.
    layout: "rows" an object per monster (`monsters`), "columns" an array per field (`columns`),
    which is several times cheaper to parse on both sides."""
    if state_form not in STATE_FORMS or layout not in LAYOUTS:
        raise ValueError(f"state_form must be one of {STATE_FORMS} and layout one of {LAYOUTS}")
    states = np.ascontiguousarray(states, dtype="<f4")
    n = len(request_ids)
    fields = {"rid": [int(rid) for rid in request_ids], "mob": [int(m) for m in mob_ids[:n]],
              "class": [int(c) for c in class_ids[:n]], "archetype": list(archetypes[:n])}
    if packs is not None:
        fields["pack"] = [None if p is None else int(p) for p in packs[:n]]
    if difficulty is not None:
        fields["difficulty"] = [float(d) for d in difficulty[:n]]
    if state_form == "json":
        fields["state"] = states.tolist()
    payload = {"v": 1, "server": server, "tick": int(tick), "reply_to": reply_to, "reply_ttl_s": reply_ttl_s}
    if layout == "columns":
        payload["columns"] = fields
    else:  # rows leave out an absent pack rather than send null
        payload["monsters"] = [{name: values[i] for name, values in fields.items()
                                if not (name == "pack" and values[i] is None)} for i in range(n)]
    if state_form == "f32":
        payload["states_b64"] = base64.b64encode(states.tobytes()).decode("ascii")
    elif state_form == "f16":
        payload["states_f16_b64"] = base64.b64encode(states.astype("<f2").tobytes()).decode("ascii")
    return payload


def decide_message(payload: dict, *, task_id: str | None = None, priority: int = 0, raw_body: bool = False) -> bytes:
    """The whole message. raw_body: the body as JSON text instead of base64 of it (docs/protocol.md
    §1): a quarter smaller and one decoding step less for the worker."""
    return encode(build_message(TASK, [payload], {}, queue=QUEUE, task_id=task_id, priority=priority,
                                origin=f"map-server:{payload.get('server', '')}", ignore_result=True,
                                body_encoding=None if raw_body else "base64"))


@dataclass(frozen=True)
class WireForm:
    """How a producer writes a tick (docs/protocol.md §5): decide_payload's state_form and layout,
    decide_message's raw_body."""

    state_form: str = "f32"
    layout: str = "rows"
    raw_body: bool = False


# fast: what we recommend to map servers (measured in docs/benchmarks.md); compact: the issue's
# float32 block with an object per monster; json: states as JSON arrays, the easiest to read by eye.
FORMS = {"fast": WireForm("f16", "columns", True), "compact": WireForm("f32", "rows", False),
         "json": WireForm("json", "rows", False)}


def push(client, payload: dict, *, priority: int = 0) -> None:
    client.lpush(queue_key(QUEUE, priority), decide_message(payload, priority=priority))


def read_reply(client, reply_to: str, timeout: float = 5.0) -> dict | None:
    """The next reply on the key, or None after `timeout`. BRPOP waits in slices of at most 2 s:
    redis-py 8 clients time out socket reads after 5 s by default."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        item = client.brpop([reply_to], timeout=max(0.01, min(2.0, left)))
        if item:
            return json.loads(item[1])
