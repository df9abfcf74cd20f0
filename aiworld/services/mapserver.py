"""Simulated map servers: push ticks of monster states with raw Redis commands, read the replies,
apply them, and report decisions/s, end-to-end latency, fallback levels and errors.

Each map server is a thread with its own Redis connection and reply key. Latency is measured per
message from just before the LPUSH to the reply being read. Bounded: a duration, a rate cap, and
a reply wait of at most a few ticks per message.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import redis

from aiworld.mobs import client
from aiworld.mobs.simulation import MapSimulation
from aiworld.mobs.state import Action

MAX_DECISIONS_PER_S = 200_000  # more than this is a mistake on a machine this size


@dataclass
class Totals:
    messages: int = 0
    decisions: int = 0
    errors: int = 0
    missing: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    levels: Counter = field(default_factory=Counter)

    def add(self, other: Totals) -> None:
        self.messages += other.messages
        self.decisions += other.decisions
        self.errors += other.errors
        self.missing += other.missing
        self.latencies_ms += other.latencies_ms
        self.levels.update(other.levels)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class MapServer(threading.Thread):
    def __init__(self, name: str, url: str, monsters: int, tick_s: float, stop: threading.Event,
                 compact: bool = True, seed: int = 0, run_id: str = ""):
        super().__init__(name=f"mapserver-{name}", daemon=True)
        self.server = name
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.sim = MapSimulation(monsters, seed=seed)
        self.tick_s = tick_s
        self.stop = stop
        self.compact = compact
        self.reply_to = f"aiworld:replies:{name}:{run_id or uuid.uuid4().hex[:8]}"
        self.totals = Totals()
        self._lock = threading.Lock()
        self.tick = 0

    def take(self) -> Totals:
        with self._lock:
            taken, self.totals = self.totals, Totals()
        return taken

    def run(self) -> None:
        sim = self.sim
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.tick += 1
            n = sim.n
            payload = client.decide_payload(
                server=self.server, tick=self.tick, reply_to=self.reply_to,
                request_ids=range(self.tick * n, (self.tick + 1) * n), mob_ids=sim.mob_ids, class_ids=sim.class_ids,
                archetypes=sim.archetypes, states=sim.states(), packs=sim.packs, compact=self.compact)
            started = time.perf_counter()
            client.push(self.client, payload)
            reply = client.read_reply(self.client, self.reply_to, timeout=max(1.0, 5 * self.tick_s))
            latency = (time.perf_counter() - started) * 1000
            actions = np.full(n, Action.TRADITIONAL_AI, np.int16)
            with self._lock:
                self.totals.messages += 1
                if reply is None or reply.get("tick") != self.tick:
                    self.totals.missing += 1
                else:
                    self.totals.latencies_ms.append(latency)
                    self.totals.decisions += len(reply["decisions"])
                    self.totals.errors += len(reply["errors"])
                    base = self.tick * n
                    for d in reply["decisions"]:
                        actions[d["rid"] - base] = d["action"]
                        self.totals.levels[d["level"]] += 1
            sim.step(actions)
            next_at += self.tick_s
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_at = time.monotonic()  # behind: do not try to catch up in a burst
        self.client.delete(self.reply_to)


def run(*, url: str, servers: int, monsters: int, tick_ms: float, duration_s: float, compact: bool = True,
        report: Callable[[str], None] = print, stop: threading.Event | None = None) -> Totals:
    """Run the map servers; report one line per second and a summary; returns the totals."""
    rate = servers * monsters * 1000 / tick_ms
    if rate > MAX_DECISIONS_PER_S:
        raise ValueError(f"{rate:,.0f} decisions/s offered is above the cap of {MAX_DECISIONS_PER_S:,}")
    if not 1 <= monsters <= 4096:
        raise ValueError("monsters per map must be 1..4096 (one message per tick holds at most 4096)")
    stop = stop or threading.Event()
    run_id = uuid.uuid4().hex[:8]
    maps = [MapServer(f"map{i + 1}", url, monsters, tick_ms / 1000, stop, compact=compact, seed=i, run_id=run_id)
            for i in range(servers)]
    for m in maps:
        m.start()
    total = Totals()
    started = time.monotonic()
    try:
        while not stop.is_set():
            stop.wait(1.0)
            window = Totals()
            for m in maps:
                window.add(m.take())
            total.add(window)
            report(line(window, time.monotonic() - started))
            if duration_s and time.monotonic() - started >= duration_s:
                break
    finally:
        stop.set()
        for m in maps:
            m.join(timeout=10)
            last = m.take()
            total.add(last)
    report(summary(total, time.monotonic() - started, rate))
    return total


def line(window: Totals, elapsed: float) -> str:
    levels = " ".join(f"L{k}:{v}" for k, v in sorted(window.levels.items())) or "-"
    return (f"[{elapsed:6.1f}s] {window.decisions:7d} decisions/s  p50 {percentile(window.latencies_ms, .5):6.2f} ms"
            f"  p99 {percentile(window.latencies_ms, .99):6.2f} ms  levels {levels}  errors {window.errors}"
            f"  missing {window.missing}")


def summary(total: Totals, elapsed: float, offered: float) -> str:
    levels = " ".join(f"L{k}:{v}" for k, v in sorted(total.levels.items())) or "-"
    return (f"summary: {total.messages} messages, {total.decisions} decisions in {elapsed:.1f} s "
            f"({total.decisions / max(elapsed, 1e-9):,.0f}/s of {offered:,.0f}/s offered), "
            f"p50 {percentile(total.latencies_ms, .5):.2f} ms, p99 {percentile(total.latencies_ms, .99):.2f} ms, "
            f"levels {levels}, errors {total.errors}, missing {total.missing}")
