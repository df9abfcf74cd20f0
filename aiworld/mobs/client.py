"""Producer side of monster decisions, as a map server does it with raw Redis commands: build a
tick's `aiworld.mobs.decide` message, push it, read the reply. Used by the simulated map server,
the benchmarks and the tests; docs/protocol.md §5 is the same contract in words."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence

import numpy as np

from aiworld.protocol.envelope import build_message, encode, queue_key

TASK = "aiworld.mobs.decide"
QUEUE = "gpu"


def decide_payload(*, server: str, tick: int, reply_to: str, request_ids: Sequence[int], mob_ids: Sequence[int],
                   class_ids: Sequence[int], archetypes: Sequence[str], states: np.ndarray,
                   packs: Sequence[int | None] | None = None, difficulty: Sequence[float] | None = None,
                   compact: bool = True, reply_ttl_s: int = 10) -> dict:
    """The payload (the task's one argument). compact: states as one base64 block of little-endian
    float32 (fast to write and to read) instead of a JSON array per monster."""
    states = np.ascontiguousarray(states, dtype="<f4")
    monsters = []
    for i, rid in enumerate(request_ids):
        monster = {"rid": int(rid), "mob": int(mob_ids[i]), "class": int(class_ids[i]), "archetype": archetypes[i]}
        if packs is not None and packs[i] is not None:
            monster["pack"] = int(packs[i])
        if difficulty is not None:
            monster["difficulty"] = float(difficulty[i])
        if not compact:
            monster["state"] = states[i].tolist()
        monsters.append(monster)
    payload = {"v": 1, "server": server, "tick": int(tick), "reply_to": reply_to, "reply_ttl_s": reply_ttl_s,
               "monsters": monsters}
    if compact:
        payload["states_b64"] = base64.b64encode(states.tobytes()).decode("ascii")
    return payload


def decide_message(payload: dict, *, task_id: str | None = None, priority: int = 0) -> bytes:
    return encode(build_message(TASK, [payload], {}, queue=QUEUE, task_id=task_id, priority=priority,
                                origin=f"map-server:{payload.get('server', '')}"))


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
