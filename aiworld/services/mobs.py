"""Monster decisions: answer a decoded batch through the worker's engine and push the reply.

One Serving per worker process, created on the first batch: the engine, the batcher that merges
concurrent messages, a watcher that reloads the registry when its generation changes, and the
periodic statistics that GMs see in the admin.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
import psutil
import redis

from aiworld import env
from aiworld.mobs import metrics
from aiworld.mobs.caches import LocalCache, RedisCache
from aiworld.mobs.engine import Batcher, Engine
from aiworld.mobs.fallback import Transition
from aiworld.mobs.payload import Batch, encode_reply
from aiworld.mobs.state import ARCHETYPES
from aiworld.services import registry

log = logging.getLogger("aiworld.mobs")
RELOAD_CHECK_S = 1.0
STATS_EVERY_S = float(os.environ.get("AIWORLD_STATS_EVERY_S", "10"))


class Serving:
    def __init__(self, worker: str):
        from aiworld.celery import app

        self.worker = worker
        self.client = redis.Redis.from_url(app.conf.broker_url)
        # off: with the shipped (distilled) networks local measured 1.01x the time of off at a 45 % hit rate
        # (docs/benchmarks.md, "Serving caches"); it paid only with the 11-35 µs history networks
        l2 = env.get_choice("AIWORLD_L2_CACHE", ("off", "local", "redis"), "off")
        l3 = env.get_choice("AIWORLD_L3_CACHE", ("off", "local"), "off")
        try:
            self.generation = registry.current_generation(self.client)
            snapshot = registry.snapshot()
        except Exception as exc:  # database or broker down: serve by rules, retry the load each second
            log.error("could not load the serving snapshot (%s); rules answer until it loads", exc)
            self.generation = -1
            snapshot = registry.ServingSnapshot(models=(), forced_level=None, difficulty=1.0)
        self.engine = Engine(
            snapshot,
            threads=int(os.environ.get("AIWORLD_ORT_THREADS", "1")),
            l2={"off": None, "local": LocalCache(), "redis": RedisCache(self.client)}[l2],
            l3=LocalCache() if l3 == "local" else None,
            on_transition=self._on_transition,
        )
        self.engine.generation = self.generation
        # 2: a second pass's inference overlaps the first's Python work (docs/benchmarks.md, "Two engine
        # passes at once"); 1 runs one pass at a time
        self.batcher = Batcher(self.engine, passes=env.get_int("AIWORLD_ENGINE_PASSES", 2, minimum=1))
        self._checked = time.monotonic()
        self._stats_at = time.monotonic()
        self._lock = threading.Lock()
        self._process = psutil.Process()
        metrics.SERVICE_UP.set(1)
        metrics.FALLBACK_LEVEL.set(self.engine.controller.level)
        log.info("decision serving up on %s: level %s, caches L2=%s L3=%s", worker, self.engine.controller.level,
                 l2, l3)

    def _on_transition(self, transition: Transition) -> None:
        from aiworld.models import FallbackEvent

        metrics.FALLBACK_TRANSITIONS.labels(str(transition.from_level), str(transition.to_level)).inc()
        metrics.FALLBACK_LEVEL.set(transition.to_level)
        try:
            FallbackEvent.objects.create(worker=self.worker, from_level=transition.from_level,
                                         to_level=transition.to_level, reason=transition.reason[:2000])
        except Exception as exc:  # the database being down must not stop decisions
            log.warning("could not record fallback event: %s", exc)

    def maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_S:
            return
        with self._lock:
            if now - self._checked < RELOAD_CHECK_S:
                return
            self._checked = now
            try:
                generation = registry.current_generation(self.client)
                if generation == self.generation:
                    return
                snapshot = registry.snapshot()
            except Exception as exc:
                log.warning("serving snapshot not reloaded: %s", exc)
                return
            if generation != self.generation:
                self.engine.apply_snapshot(snapshot, generation=generation)
                self.generation = generation
                log.info("serving generation %s: %s active model files", generation,
                         sum(len(v) for v in self.engine.models.values()))

    def decide(self, batch: Batch, timeout: float) -> list[dict]:
        self.maybe_reload()
        if not len(batch):
            return []
        return self.batcher.decide(batch, timeout)

    def reply(self, batch: Batch, decisions: list[dict], task_id: str) -> None:
        body = encode_reply(batch, decisions, worker=self.worker, task_id=task_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(batch.reply_to, body)
        pipe.expire(batch.reply_to, batch.reply_ttl_s)
        pipe.execute()

    def account(self, batch: Batch, decisions: list[dict]) -> None:
        # labelled by the level that answered each request (an archetype without a model is
        # answered by the rules even while the worker serves at level 3)
        levels = np.fromiter((d["level"] for d in decisions), np.int16, len(decisions))
        pairs = batch.archetype_ids.astype(np.int16) * 10 + levels
        for code, count in zip(*np.unique(pairs, return_counts=True), strict=True):
            metrics.REQUESTS.labels(ARCHETYPES[int(code) // 10], str(int(code) % 10)).inc(int(count))
        now = time.monotonic()
        if now - self._stats_at >= STATS_EVERY_S:
            with self._lock:
                if now - self._stats_at >= STATS_EVERY_S:
                    self._flush_stats(now)

    def _flush_stats(self, now: float) -> None:
        from aiworld.models import InferenceStats

        engine = self.engine
        stats = engine.take_stats()
        latencies = sorted(stats.latencies_ms) or [0.0]
        hit_rate = stats.cache_hits / stats.cache_lookups if stats.cache_lookups else None
        for latency in stats.latencies_ms:
            metrics.LATENCY.observe(latency / 1000)
        for size in stats.pass_sizes:
            metrics.BATCH_SIZE.observe(size)
        metrics.MODEL_ERRORS.inc(stats.errors)
        metrics.MODELS_LOADED.set(engine.loaded_sessions())
        metrics.RAM.set(self._process.memory_info().rss)
        metrics.CPU.set(self._process.cpu_percent())
        memory = engine.devices.memory()
        if memory:
            metrics.VRAM.set(memory[0])
        if stats.cache_lookups:
            metrics.CACHE_HITS.labels("l2").inc(stats.cache_hits)
            metrics.CACHE_MISSES.labels("l2").inc(stats.cache_lookups - stats.cache_hits)
            metrics.CACHE_HIT_RATE.labels("l2").set(hit_rate)
        try:
            InferenceStats.objects.create(
                worker=self.worker, interval_s=now - self._stats_at, batches=stats.batches,
                decisions=stats.decisions, errors=stats.errors, level=engine.controller.level,
                latency_p50_ms=latencies[len(latencies) // 2],
                latency_p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                cache_hit_rate=hit_rate, levels={str(k): v for k, v in stats.levels.items()})
        except Exception as exc:
            log.warning("could not record inference stats: %s", exc)
        self._stats_at = now


_serving: Serving | None = None
_serving_lock = threading.Lock()


def serving(worker: str = "") -> Serving:
    global _serving
    if _serving is None:
        with _serving_lock:
            if _serving is None:
                _serving = Serving(worker or f"{os.uname().nodename}:{os.getpid()}")
    return _serving


def answer(batch: Batch, *, task_id: str, worker: str, timeout: float) -> int:
    """Decide a batch and push the reply (errors included). Returns how many decisions were sent."""
    service = serving(worker)
    try:
        decisions = service.decide(batch, timeout)
    except TimeoutError:
        # The engine did not answer in time (overload): hand this tick to the map server's own AI
        # now rather than leave it waiting for a reply that comes too late to use.
        log.warning("no decision within %ss for %s requests: answering with level 5", timeout, len(batch))
        decisions = [{"rid": rid, "action": 255, "conf": None, "level": 5, "model": "traditional"}
                     for rid in batch.request_ids.tolist()]
    service.reply(batch, decisions, task_id)
    service.account(batch, decisions)
    return len(decisions)
