"""Serving caches. Each is kept only if it pays: bench/caches.py measures them and
docs/benchmarks.md holds the numbers behind the defaults.

- L1 working memory: the last 10 states of each monster, which temporal models read. Local to the
  worker process; maintained only while a temporal model is active.
- L2 state -> action: quantized state of one archetype -> (action, confidence), 10 s TTL, keyed by
  the serving generation so a model change invalidates it. Local dict or shared in Redis.
- L3 model output: quantized input of one model -> its action probabilities, 10 s TTL, local.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from aiworld.mobs.state import HISTORY_LENGTH, STATE_SIZE

QUANT_LEVELS = 32  # states are rounded to 1/32 for cache keys


def quantized_keys(prefix: bytes, states: np.ndarray) -> list[bytes]:
    q = np.rint(states * QUANT_LEVELS).astype(np.uint8)
    return [prefix + row.tobytes() for row in q]


class WorkingMemory:
    """L1: the last HISTORY_LENGTH states per monster id, oldest first, zero-padded.

    One array of histories indexed by slot; a dict maps monster ids to slots. An update is one
    dict lookup per monster plus vectorised copies (a dict of small arrays cost ~2.6 µs per
    monster, as much as the model itself: bench/caches.py). Each slot is a ring with its own write
    position: an update writes one state and gathers the rows in order, where shifting the history
    and writing it back cost three copies (0.63x the time per monster, measured alternately).
    """

    def __init__(self, max_monsters: int = 200_000, idle_s: float = 60.0):
        self.max_monsters = max_monsters
        self.idle_s = idle_s
        self._slots: dict[int, int] = {}
        self._history = np.zeros((1024, HISTORY_LENGTH, STATE_SIZE), np.float32)
        self._seen = np.zeros(1024, np.float64)
        self._owner = np.full(1024, -1, np.int64)
        self._newest = np.zeros(1024, np.int64)  # ring position of each slot's newest state

    def __len__(self) -> int:
        return len(self._slots)

    def _grow_or_evict(self, needed: int) -> None:
        size = len(self._seen)
        if len(self._slots) + needed <= size:
            return
        if size < self.max_monsters:
            new = min(self.max_monsters, max(size * 2, len(self._slots) + needed))
            self._history = np.concatenate([self._history, np.zeros((new - size, HISTORY_LENGTH, STATE_SIZE),
                                                                    np.float32)])
            self._seen = np.concatenate([self._seen, np.zeros(new - size)])
            self._owner = np.concatenate([self._owner, np.full(new - size, -1, np.int64)])
            self._newest = np.concatenate([self._newest, np.zeros(new - size, np.int64)])
            return
        # full: forget the least recently seen tenth (and at least what is needed)
        count = max(needed, size // 10)
        for slot in np.argpartition(self._seen, count)[:count].tolist():
            self._slots.pop(int(self._owner[slot]), None)
            self._owner[slot] = -1
            self._seen[slot] = 0.0

    def update(self, mob_ids: np.ndarray, states: np.ndarray) -> np.ndarray:
        """Append each state to its monster's history; returns float32[n, 10, 64]."""
        return self.record(mob_ids, states).take()

    def record(self, mob_ids: np.ndarray, states: np.ndarray) -> Histories:
        """Append each state to its monster's history; the histories are gathered by `take` (before the
        next record), for the rows that need them: a gather copies 2.5 KB per monster."""
        now = time.monotonic()
        ids = mob_ids.tolist()
        slots_of = self._slots
        new = [mob for mob in dict.fromkeys(ids) if mob not in slots_of]
        if new:
            self._grow_or_evict(len(new))
            free = np.flatnonzero(self._owner == -1)[: len(new)].tolist()
            for mob, slot in zip(new, free, strict=True):
                slots_of[mob] = slot
                self._owner[slot] = mob
                self._seen[slot] = -np.inf  # stale below whatever the clock reads: its rows are zeroed
        slots = np.array(list(map(slots_of.__getitem__, ids)), dtype=np.int64)
        stale = slots[now - self._seen[slots] > self.idle_s]  # new or idle too long: no past worth keeping
        if len(stale):
            self._history[stale] = 0.0
        newest = (self._newest[slots] + 1) % HISTORY_LENGTH
        self._newest[slots] = newest
        self._history[slots, newest] = states
        self._seen[slots] = now
        return Histories(self._history, slots, newest)


_OLDEST_FIRST = 1 + np.arange(HISTORY_LENGTH)


class Histories:
    """The histories of one `WorkingMemory.record`, oldest state first."""

    def __init__(self, store: np.ndarray, slots: np.ndarray, newest: np.ndarray):
        self._store, self._slots, self._newest = store, slots, newest

    def __len__(self) -> int:
        return len(self._slots)

    def take(self, rows: np.ndarray | None = None) -> np.ndarray:
        """float32[len(rows), 10, 64] (every row when rows is None)."""
        slots = self._slots if rows is None else self._slots[rows]
        newest = self._newest if rows is None else self._newest[rows]
        return self._store[slots[:, None], (newest[:, None] + _OLDEST_FIRST) % HISTORY_LENGTH]


class LocalCache:
    """A TTL map for L2/L3 held in the worker process, shared by the engine's concurrent passes (the lock:
    the purge iterates the dict, which another pass's insert would break)."""

    def __init__(self, ttl_s: float = 10.0, max_entries: int = 500_000):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: list[bytes]) -> list[object | None]:
        now = time.monotonic()
        found = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None and entry[0] > now:
                    found.append(entry[1])
                else:
                    found.append(None)
            hits = sum(value is not None for value in found)
            self.hits += hits
            self.misses += len(keys) - hits
        return found

    def put_many(self, keys: list[bytes], values: list[object]) -> None:
        expires = time.monotonic() + self.ttl_s
        with self._lock:
            if len(self._entries) + len(keys) > self.max_entries:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) + len(keys) > self.max_entries:
                    self._entries.clear()
            for key, value in zip(keys, values, strict=True):
                self._entries[key] = (expires, value)


class RedisCache:
    """L2 shared by every worker: one MGET and one pipelined SET per batch."""

    def __init__(self, client, ttl_s: float = 10.0, prefix: bytes = b"aiworld:l2:"):
        self.client = client
        self.ttl_ms = int(ttl_s * 1000)
        self.prefix = prefix
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: list[bytes]) -> list[object | None]:
        if not keys:
            return []
        raw = self.client.mget([self.prefix + key for key in keys])
        found = [None if value is None else _decode_action(value) for value in raw]
        hits = sum(value is not None for value in found)
        self.hits += hits
        self.misses += len(keys) - hits
        return found

    def put_many(self, keys: list[bytes], values: list[object]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in zip(keys, values, strict=True):
            pipe.set(self.prefix + key, _encode_action(value), px=self.ttl_ms)
        pipe.execute()


def _encode_action(value) -> bytes:
    action, conf = value
    return f"{action}:{conf:.6f}".encode()


def _decode_action(raw: bytes):
    action, conf = raw.split(b":")
    return int(action), float(conf)
