"""Simulated map servers: push one tick of monster states per map per tick with raw Redis commands
(aiworld/mobs/client.py), read the replies, apply them to the simulation, and report decisions/s,
end-to-end latency, decisions per fallback level, errors and missing replies.

Each map server is a thread with its own Redis connection and reply key
(`aiworld:replies:<server>`). Like a real map server it sends on the clock, whether or not the
previous reply is back (open loop: an overloaded farm shows as latency and missing replies, not as
a lower offered rate), and applies the decisions that arrived since the previous tick; monsters
without a decision act on the map server's own AI (255). Latency is measured per message from just
before the LPUSH to the reply being read. A reply that has not come within the reply timeout
counts as missing (and as late if it comes afterwards). Bounded: rate caps, a duration, and at most
a few seconds of waiting for the last replies when stopping.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson
import redis

from aiworld.mobs import client
from aiworld.mobs.payload import MAX_BATCH
from aiworld.mobs.simulation import MapSimulation
from aiworld.mobs.state import Action

# More than this is a mistake on the machines we run on; the producer itself would be the limit.
MAX_DECISIONS_PER_S = 100_000
MAX_MESSAGES_PER_S = 2_000
MAX_SERVERS = 256
TICK_MS_RANGE = (10.0, 60_000.0)
REPLY_KEY = "aiworld:replies:{server}"
DRAIN_S = 3.0  # at most this long waiting for outstanding replies when stopping


class Histogram:
    """Latencies in logarithmic buckets 1 % wide from 0.01 ms to ~10 min: bounded memory for runs
    of any length; percentiles are exact to about 1 %."""

    LOW_MS = 0.01
    GROWTH = 1.01
    SIZE = 1900

    def __init__(self) -> None:
        self.counts = np.zeros(self.SIZE, np.int64)
        self.total = 0

    def add(self, ms: float) -> None:
        index = int(math.log(max(ms, self.LOW_MS) / self.LOW_MS) / math.log(self.GROWTH))
        self.counts[min(index, self.SIZE - 1)] += 1
        self.total += 1

    def merge(self, other: Histogram) -> None:
        self.counts += other.counts
        self.total += other.total

    def percentile(self, q: float) -> float:
        """The q-quantile (0..1) in ms: the middle of its bucket; NaN when empty."""
        if not self.total:
            return float("nan")
        index = int(np.searchsorted(np.cumsum(self.counts), max(1, math.ceil(q * self.total))))
        return self.LOW_MS * self.GROWTH ** (index + 0.5)


@dataclass
class Totals:
    sent: int = 0  # messages pushed
    replies: int = 0  # replies matched to a message in time
    decisions: int = 0
    errors: int = 0  # per-request errors in the replies
    missing: int = 0  # no reply within the reply timeout
    late: int = 0  # replies that came after being counted missing
    duplicates: int = 0  # a second reply to the same message (redelivery after a worker died)
    skipped_ticks: int = 0  # ticks the producer itself could not send on time
    latency: Histogram = field(default_factory=Histogram)
    levels: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)

    def add(self, other: Totals) -> None:
        for name in ("sent", "replies", "decisions", "errors", "missing", "late", "duplicates", "skipped_ticks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        self.levels.update(other.levels)
        self.actions.update(other.actions)


class MapServer(threading.Thread):
    """One simulated map server: a MapSimulation, a Redis connection, a reply key."""

    def __init__(self, name: str, url: str, monsters: int, tick_s: float, stop: threading.Event, *,
                 form: client.WireForm = client.FORMS["fast"], seed: int = 0, reply_timeout_s: float = 2.0):
        super().__init__(name=f"mapserver-{name}", daemon=True)
        self.server = name
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.sim = MapSimulation(monsters, seed=seed, tick_s=tick_s)
        self.n = monsters
        self.tick_s = tick_s
        self.stop = stop
        self.form = form
        self.reply_timeout_s = reply_timeout_s
        self.reply_to = REPLY_KEY.format(server=name)
        self.totals = Totals()
        self.failure: BaseException | None = None
        self._lock = threading.Lock()
        self._pending: dict[int, float] = {}  # tick -> perf_counter just before its LPUSH
        self._expired: dict[int, None] = {}  # ticks counted missing (bounded), to tell late from duplicate
        self._actions = np.full(monsters, Action.TRADITIONAL_AI, np.int64)
        self.tick = 0

    def take(self) -> Totals:
        with self._lock:
            taken, self.totals = self.totals, Totals()
        return taken

    def in_flight(self) -> int:
        return len(self._pending)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.client.delete(self.reply_to)
            next_at = time.monotonic()
            while not self.stop.is_set():
                if time.monotonic() >= next_at:
                    self._send_tick()
                    next_at += self.tick_s
                    behind = int((time.monotonic() - next_at) / self.tick_s)
                    if behind > 0:  # never burst to catch up: skip, and say so
                        next_at += behind * self.tick_s
                        with self._lock:
                            self.totals.skipped_ticks += behind
                self._expire()
                self._receive(min(next_at - time.monotonic(), 1.0))
            deadline = time.monotonic() + min(self.reply_timeout_s, DRAIN_S)
            while self._pending and time.monotonic() < deadline:  # the last ticks' replies
                self._receive(min(deadline - time.monotonic(), 0.5))
            self._expire(everything=True)
        except Exception as exc:  # noqa: BLE001 - reported by run() with the server's name
            self.failure = exc
        finally:
            try:
                self.client.delete(self.reply_to)
                self.client.close()
            except redis.RedisError:
                pass

    def _send_tick(self) -> None:
        sim = self.sim
        if self.tick:
            sim.step(self._actions)
            self._actions = np.full(self.n, Action.TRADITIONAL_AI, np.int64)  # unanswered: the map server's AI
        self.tick += 1
        base = self.tick * self.n
        payload = client.decide_payload(
            server=self.server, tick=self.tick, reply_to=self.reply_to, request_ids=range(base, base + self.n),
            mob_ids=sim.mob_ids, class_ids=sim.class_ids, archetypes=sim.archetypes, states=sim.states(),
            packs=sim.packs, state_form=self.form.state_form, layout=self.form.layout)
        message = client.decide_message(payload, raw_body=self.form.raw_body)
        self._pending[self.tick] = time.perf_counter()
        self.client.lpush(client.QUEUE, message)
        with self._lock:
            self.totals.sent += 1

    def _receive(self, wait_s: float) -> None:
        """Read one reply, waiting up to wait_s (BRPOP), or just look (RPOP) when no time is left."""
        if wait_s >= 0.001:
            item = self.client.brpop([self.reply_to], timeout=wait_s)
            raw = item[1] if item else None
        else:
            raw = self.client.rpop(self.reply_to)
        if raw is not None:
            self._on_reply(raw, time.perf_counter())

    def _on_reply(self, raw: bytes, read_at: float) -> None:
        reply = orjson.loads(raw)
        tick = reply.get("tick")
        sent_at = self._pending.pop(tick, None)
        if sent_at is None:
            with self._lock:
                if tick in self._expired:
                    self.totals.late += 1
                else:
                    self.totals.duplicates += 1
            return
        base = tick * self.n
        decisions = reply.get("decisions") or []
        with self._lock:
            totals = self.totals
            totals.replies += 1
            totals.latency.add((read_at - sent_at) * 1000)
            totals.decisions += len(decisions)
            totals.errors += len(reply.get("errors") or [])
            for decision in decisions:
                index = decision["rid"] - base
                if 0 <= index < self.n:
                    self._actions[index] = decision["action"]
                totals.levels[decision["level"]] += 1
                totals.actions[decision["action"]] += 1

    def _expire(self, everything: bool = False) -> None:
        limit = time.perf_counter() - self.reply_timeout_s
        gone = [tick for tick, sent_at in self._pending.items() if everything or sent_at < limit]
        if not gone:
            return
        for tick in gone:
            del self._pending[tick]
            self._expired[tick] = None
        while len(self._expired) > 10_000:
            del self._expired[next(iter(self._expired))]
        with self._lock:
            self.totals.missing += len(gone)


# -- the run -----------------------------------------------------------------------------------------
def check_limits(*, servers: int, monsters: int, tick_ms: float) -> float:
    """The offered decisions/s, or ValueError saying which bound a request breaks and why."""
    if not 1 <= servers <= MAX_SERVERS:
        raise ValueError(f"--servers must be 1..{MAX_SERVERS} (one thread and one Redis connection each)")
    if not 1 <= monsters <= MAX_BATCH:
        raise ValueError(f"--monsters must be 1..{MAX_BATCH}: one message per tick holds at most {MAX_BATCH}")
    if not TICK_MS_RANGE[0] <= tick_ms <= TICK_MS_RANGE[1]:
        raise ValueError(f"--tick-ms must be {TICK_MS_RANGE[0]:g}..{TICK_MS_RANGE[1]:g} (rAthena thinks every 100)")
    rate = servers * monsters * 1000 / tick_ms
    messages = servers * 1000 / tick_ms
    if rate > MAX_DECISIONS_PER_S:
        raise ValueError(f"{servers} servers x {monsters} monsters every {tick_ms:g} ms is {rate:,.0f} decisions/s, "
                         f"above the cap of {MAX_DECISIONS_PER_S:,}/s for a simulated map server (the simulation "
                         f"and the producer would be the bottleneck, not the farm); lower --servers or --monsters "
                         f"or raise --tick-ms")
    if messages > MAX_MESSAGES_PER_S:
        raise ValueError(f"{servers} servers every {tick_ms:g} ms is {messages:,.0f} messages/s, above the cap of "
                         f"{MAX_MESSAGES_PER_S:,}/s; use fewer servers with more monsters each")
    return rate


def farm_cache_hit_rate(since_s: float = 30.0) -> float | None:
    """The gpu workers' L2 hit rate over their stats rows of the last `since_s` (the InferenceStats GMs see in
    admin, written every AIWORLD_STATS_EVERY_S), weighted by decisions; None when none reported one or the
    database cannot be read (a map server has no database: this is the simulation's window on the farm)."""
    from datetime import timedelta

    from django.db import DatabaseError
    from django.utils import timezone

    from aiworld.models import InferenceStats

    try:
        rows = list(InferenceStats.objects.filter(created_at__gte=timezone.now() - timedelta(seconds=since_s),
                                                  cache_hit_rate__isnull=False)
                    .values_list("cache_hit_rate", "decisions"))
    except DatabaseError:  # the line goes on without it
        return None
    total = sum(decisions for _, decisions in rows)
    return sum(rate * decisions for rate, decisions in rows) / total if total else None


def run(*, url: str, servers: int, monsters: int, tick_ms: float = 100.0, duration_s: float = 0.0,
        form: str = "fast", seed: int = 0, reply_timeout_s: float = 2.0, report: Callable[[str], None] = print,
        stop: threading.Event | None = None, cache_rate: Callable[[], float | None] | None = None) -> Totals:
    """Run the map servers; report one line per second and a summary; return the totals.
    duration_s 0 runs until `stop` is set (the command sets it on SIGINT/SIGTERM). `cache_rate` (e.g.
    farm_cache_hit_rate), when given, is asked once a line for the workers' L2 hit rate."""
    rate = check_limits(servers=servers, monsters=monsters, tick_ms=tick_ms)
    if form not in client.FORMS:
        raise ValueError(f"--form must be one of {', '.join(client.FORMS)}")
    if duration_s < 0 or not 0.05 <= reply_timeout_s <= 60:
        raise ValueError("--duration must be >= 0 and --reply-timeout 0.05..60 s")
    stop = stop or threading.Event()
    run_id = uuid.uuid4().hex[:6]
    maps = [MapServer(f"sim{i + 1}-{run_id}", url, monsters, tick_ms / 1000, stop, form=client.FORMS[form],
                      seed=seed + i, reply_timeout_s=reply_timeout_s) for i in range(servers)]
    redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5).ping()  # fail early and clearly
    report(f"{servers} map server(s) x {monsters} monsters every {tick_ms:g} ms: {rate:,.0f} decisions/s offered, "
           f"{form} wire form, replies on {REPLY_KEY.format(server='sim<i>-' + run_id)}")
    for m in maps:
        m.start()
    total = Totals()
    hinted = False
    started = last = time.monotonic()
    try:
        while not stop.is_set():
            stop.wait(max(0.0, 1.0 - (time.monotonic() - last)))
            now = time.monotonic()
            window = Totals()
            for m in maps:
                window.add(m.take())
            total.add(window)
            report(line(window, now - started, now - last, sum(m.in_flight() for m in maps))
                   + ("" if cache_rate is None else _cache(cache_rate())))
            last = now
            if not hinted and not total.replies and total.missing:
                hinted = True
                report(f"no reply yet: is a gpu worker consuming the `{client.QUEUE}` queue of this broker "
                       f"(Procfile worker-gpu)?")
            failed = [m for m in maps if m.failure is not None]
            if failed:
                report(f"map server {failed[0].server} stopped: {failed[0].failure!r}")
                break
            if duration_s and now - started >= duration_s:
                break
    finally:
        stop.set()
        elapsed = time.monotonic() - started
        for m in maps:
            m.join(timeout=DRAIN_S + 12)
            total.add(m.take())
    report(summary(total, elapsed, rate))
    return total


def _action_name(action: int) -> str:
    try:
        return Action(action).name
    except ValueError:
        return str(action)


def _cache(rate: float | None) -> str:
    return "  cache L2 " + ("-" if rate is None else f"{rate:.0%}")


def _levels(totals: Totals) -> str:
    return " ".join(f"L{level}:{count}" for level, count in sorted(totals.levels.items())) or "-"


def _ms(histogram: Histogram, q: float, width: int = 0) -> str:
    value = histogram.percentile(q)
    return f"{'-' if math.isnan(value) else f'{value:.2f}':>{width}} ms"


def line(window: Totals, elapsed: float, span: float, in_flight: int) -> str:
    return (f"[{elapsed:6.1f}s] {window.decisions / max(span, 1e-9):8,.0f} decisions/s"
            f"  p50 {_ms(window.latency, 0.5, 7)}  p99 {_ms(window.latency, 0.99, 7)}"
            f"  levels {_levels(window)}  errors {window.errors}  missing {window.missing}  in flight {in_flight}"
            + (f"  late {window.late}" if window.late else "")
            + (f"  skipped ticks {window.skipped_ticks}" if window.skipped_ticks else ""))


def summary(total: Totals, elapsed: float, offered: float) -> str:
    actions = " ".join(f"{_action_name(a)}:{c}" for a, c in sorted(total.actions.items())) or "-"
    return (f"summary: {total.sent} messages sent, {total.replies} replies, {total.decisions} decisions in "
            f"{elapsed:.1f} s ({total.decisions / max(elapsed, 1e-9):,.0f}/s of {offered:,.0f}/s offered), "
            f"p50 {_ms(total.latency, 0.5)}, p99 {_ms(total.latency, 0.99)}, "
            f"levels {_levels(total)}, errors {total.errors}, missing {total.missing}, late {total.late}, "
            f"duplicates {total.duplicates}, skipped ticks {total.skipped_ticks}; actions {actions}")
