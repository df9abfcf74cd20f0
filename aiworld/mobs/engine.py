"""Batched inference behind the 5-level fallback.

One Engine per worker process. `decide(batches)` answers several messages at once: their rows are
concatenated, each archetype's models run once over all of that archetype's rows (one onnxruntime
run per archetype and model), and the decisions are split back per message. `Batcher` merges the
messages that concurrent task threads hand in while a run is in progress, and lets up to `passes`
runs proceed at once: onnxruntime releases the GIL, so a second pass's inference overlaps the first
pass's Python work and a second core is used. The engine's shared state (the fallback controller, L1,
the statistics) is touched under one lock, for short moments; the model runs are outside it.

Fusion: each served model maps the state (or, for temporal models, the L1 history) to 10 action
logits, or 11 where the 11th is action 255 (hand the monster to the map server's own AI); the fused
policy is the fusion-weighted mean of the models' softmax probabilities (a 10-output model gives 255
probability 0); the action is its argmax and the confidence its probability. A model of type `fused`
is served alone.
An archetype with no model is answered by the rules (level 4).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue

import numpy as np
import onnxruntime as ort

from aiworld.mobs import rules
from aiworld.mobs.caches import LocalCache, WorkingMemory, quantized_keys
from aiworld.mobs.devices import Devices
from aiworld.mobs.fallback import LEVEL_NAMES, FallbackController, FallbackPolicy, Transition
from aiworld.mobs.payload import Batch
from aiworld.mobs.state import ARCHETYPES, MODEL_OUTPUTS, Action, output_actions
from aiworld.services.registry import ModelSpec, ServingSnapshot

log = logging.getLogger("aiworld.mobs.engine")

PRECISIONS_FOR_LEVEL = {1: ("fp16", "fp32"), 2: ("int8",), 3: ("int8", "fp32")}


class ModelLoadError(Exception):
    pass


@dataclass
class RunResult:
    actions: np.ndarray  # int16[n]
    confidence: np.ndarray  # float32[n], NaN where no model gave one
    levels: np.ndarray  # int8[n]: the level that answered each row
    labels: list[str]  # per archetype index: what answered ("rules", "traditional", model labels)
    error: bool = False
    cache_hits: int = 0
    cache_lookups: int = 0


@dataclass
class EngineStats:
    batches: int = 0
    decisions: int = 0
    errors: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    pass_sizes: list[int] = field(default_factory=list)
    levels: Counter = field(default_factory=Counter)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class Engine:
    def __init__(self, snapshot: ServingSnapshot, *, devices: Devices | None = None,
                 policy: FallbackPolicy | None = None, threads: int = 1, l2: object | None = None,
                 l3: LocalCache | None = None, on_transition=None, clock=time.monotonic):
        self.devices = devices or Devices()
        self.threads = threads
        self.l2 = l2
        self.l3 = l3
        self.memory = WorkingMemory()
        self._sessions: dict[tuple[str, str, tuple[str, ...]], ort.InferenceSession] = {}
        self._temporal_paths: set[str] = set()  # loaded models that read the L1 history
        self._skipped: dict[int, str] = {}
        self._lock = threading.Lock()  # the sessions
        self._state = threading.Lock()  # the controller, L1 and the statistics, shared by concurrent passes
        self.stats = EngineStats()
        self.generation = 0
        self.models: dict[str, list[ModelSpec]] = {}
        self.difficulty = 1.0
        self.controller = FallbackController(available=self._level_unavailable, policy=policy or FallbackPolicy(),
                                             clock=clock, on_transition=self._transition)
        self._on_transition = on_transition
        self.apply_snapshot(snapshot)

    # -- configuration ---------------------------------------------------------------------------
    def apply_snapshot(self, snapshot: ServingSnapshot, generation: int | None = None) -> None:
        by_archetype: dict[str, list[ModelSpec]] = {}
        for spec in snapshot.models:
            by_archetype.setdefault(spec.archetype, []).append(spec)
        self.models = by_archetype
        self.difficulty = snapshot.difficulty
        if generation is not None:
            self.generation = generation
        with self._state:
            self.controller.force(snapshot.forced_level)
            if (snapshot.forced_level is None and self.controller.level == 4
                    and self.controller.best_available() < 4):
                # started with no model (level 4); models arrived: move up at once, nothing to probe
                self.controller.reset_to(self.controller.best_available(), "models became active")
        live = {str(spec.path) for spec in snapshot.models}
        with self._lock:
            self._temporal_paths &= live
            for key in [k for k in self._sessions if k[0] not in live]:
                del self._sessions[key]

    def _level_unavailable(self, level: int) -> str | None:
        if level >= 4:
            return None
        why = self.devices.unavailable(level)
        if why:
            return why
        if not any(self._specs_for(archetype, level) for archetype in self.models):
            return f"no {' or '.join(PRECISIONS_FOR_LEVEL[level])} model is active"
        return None

    def _specs_for(self, archetype: str, level: int) -> list[ModelSpec]:
        """The archetype's models in the precision the level wants (first precision that exists)."""
        specs = self.models.get(archetype, [])
        fused = [s for s in specs if s.model_type == "fused"]
        if fused:
            specs = fused
        for precision in PRECISIONS_FOR_LEVEL.get(level, ()):
            chosen = [s for s in specs if s.precision == precision]
            if chosen:
                return chosen
        return []

    def _transition(self, transition: Transition) -> None:
        log.warning("fallback level %s -> %s: %s", transition.from_level, transition.to_level, transition.reason)
        if self._on_transition:
            self._on_transition(transition)

    # -- sessions --------------------------------------------------------------------------------
    def session(self, spec: ModelSpec, providers: list[str]) -> ort.InferenceSession:
        key = (str(spec.path), spec.sha256, tuple(providers))
        found = self._sessions.get(key)
        if found is not None:
            return found
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            from aiworld.mobs.onnx_export import sha256_of

            try:
                digest = sha256_of(spec.path)
            except OSError as exc:
                raise ModelLoadError(f"{spec.path}: {exc}") from exc
            if digest != spec.sha256:
                raise ModelLoadError(f"{spec.path}: sha256 {digest[:12]} does not match the registry's "
                                     f"{spec.sha256[:12]}")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = ort.InferenceSession(str(spec.path), sess_options=options, providers=providers)
            self._sessions[key] = session
            if len(session.get_inputs()[0].shape) == 3:
                self._temporal_paths.add(str(spec.path))
            log.info("loaded %s/%s:%s (%s) on %s", spec.archetype, spec.model_type, spec.version, spec.precision,
                     ",".join(session.get_providers()))
            return session

    def loaded_sessions(self) -> int:
        return len(self._sessions)

    # -- inference -------------------------------------------------------------------------------
    def run(self, level: int, states: np.ndarray, archetype_ids: np.ndarray, mob_ids: np.ndarray) -> RunResult:
        n = len(states)
        labels = ["rules"] * len(ARCHETYPES)
        if level == 5:
            return RunResult(np.full(n, Action.TRADITIONAL_AI, np.int16), np.full(n, np.nan, np.float32),
                             np.full(n, 5, np.int8), ["traditional"] * len(ARCHETYPES))
        confidence = np.full(n, np.nan, np.float32)
        levels = np.full(n, 4, np.int8)
        if level == 4 or n == 0:
            return RunResult(rules.decide(states, archetype_ids), confidence, levels, labels)
        actions = np.empty(n, np.int16)  # the models' answers, then the rules' for every row left at 4
        result = RunResult(actions, confidence, levels, labels)
        providers = self.devices.providers(level)
        plan = []  # (archetype index, its models, why they cannot load or None)
        reads_history = False  # a model of this pass reads L1 (even if a reload just dropped it from the set)
        for a in np.unique(archetype_ids).tolist():
            specs = self._specs_for(ARCHETYPES[a], level)
            if specs:
                try:  # loaded before L1 is consulted: a pass that loads the first temporal model records too
                    for spec in specs:
                        reads_history |= len(self.session(spec, providers).get_inputs()[0].shape) == 3
                    plan.append((a, specs, None))
                except Exception as exc:
                    plan.append((a, specs, exc))
        # L1 is kept only while a temporal model is loaded: it costs a dict update per monster
        history = None
        if reads_history or self._temporal_paths:
            with self._state:
                history = self.memory.record(mob_ids, states)
        for a, specs, load_error in plan:
            archetype = ARCHETYPES[a]
            rows = np.flatnonzero(archetype_ids == a)
            try:
                if load_error is not None:
                    raise load_error
                answer = self._answer_rows(archetype, level, specs, providers, states, rows, history, result)
            except Exception as exc:
                result.error = True
                log.error("level %s inference failed for %s (%s rows): %s", level, archetype, len(rows), exc)
                continue  # the rules answer those rows below
            actions[rows], confidence[rows] = answer
            levels[rows] = level
            labels[a] = "+".join(spec.label for spec in specs) + f"/{specs[0].precision}"
        by_rules = np.flatnonzero(levels == 4)  # no model for the archetype, or its run failed
        if len(by_rules):
            actions[by_rules] = rules.decide(states[by_rules], archetype_ids[by_rules])
        return result

    def _answer_rows(self, archetype, level, specs, providers, all_states, rows, history, result):
        states = all_states[rows]
        keys = None
        hit = None
        if self.l2 is not None:
            prefix = f"{self.generation}:{archetype}:{level}:".encode()
            keys = quantized_keys(prefix, states)
            cached = self.l2.get_many(keys)
            result.cache_lookups += len(keys)
            hit = np.array([value is not None for value in cached], dtype=bool)
            result.cache_hits += int(hit.sum())
            if hit.all():
                return (np.array([v[0] for v in cached], np.int16), np.array([v[1] for v in cached], np.float32))
        miss = None if hit is None or not hit.any() else np.flatnonzero(~hit)  # None: every row, no copies
        probs = self._fused_probs(specs, providers, states if miss is None else states[miss], history,
                                  rows if miss is None else rows[miss], level)
        fresh_actions, fresh_confidence = output_actions(probs.argmax(axis=1)), probs.max(axis=1)
        if miss is None:
            actions, confidence = fresh_actions, fresh_confidence
        else:
            actions = np.empty(len(states), np.int16)
            confidence = np.empty(len(states), np.float32)
            actions[miss], confidence[miss] = fresh_actions, fresh_confidence
            for i in np.flatnonzero(hit):
                actions[i], confidence[i] = cached[i]
        if keys is not None:
            self.l2.put_many(keys if miss is None else [keys[i] for i in miss],
                             list(zip(fresh_actions.tolist(), fresh_confidence.tolist(), strict=True)))
        return actions, confidence

    def _fused_probs(self, specs, providers, states, history, rows, level) -> np.ndarray:
        """Fused action probabilities for `states`; `history` (L1, or None) is gathered for `rows` only if a
        temporal model reads it."""
        total = None
        width = 0  # 11 once a member has the 255 output; else the 10 actions alone
        weight_sum = 0.0
        window = None
        for spec in specs:
            session = self.session(spec, providers)
            inp = session.get_inputs()[0]
            temporal = len(inp.shape) == 3
            if temporal and window is None:
                window = history.take(rows)  # run() records L1 whenever a model of the pass reads it
            x = window if temporal else states
            probs = None
            if self.l3 is not None and not temporal:
                probs = self._l3_probs(spec, session, x, inp.name, level)
            if probs is None:
                probs = _softmax(session.run(None, {inp.name: x})[0].astype(np.float32, copy=False))
            if len(specs) == 1:
                return probs
            if total is None:
                total = np.zeros((len(states), MODEL_OUTPUTS), np.float32)
            total[:, :probs.shape[1]] += spec.weight * probs
            width = max(width, probs.shape[1])
            weight_sum += spec.weight
        return total[:, :width] / max(weight_sum, 1e-9)

    def _l3_probs(self, spec, session, x, input_name, level) -> np.ndarray:
        keys = quantized_keys(f"{spec.id}:{level}:".encode(), x)
        cached = self.l3.get_many(keys)
        miss = [i for i, v in enumerate(cached) if v is None]
        rows = list(cached)
        if miss:
            fresh = _softmax(session.run(None, {input_name: x[miss]})[0].astype(np.float32))
            for i, p in zip(miss, fresh, strict=True):
                rows[i] = p
            self.l3.put_many([keys[i] for i in miss], list(fresh))
        return np.stack(rows).astype(np.float32, copy=False)

    def decide(self, batches: list[Batch]) -> list[list[dict]]:
        """Decisions for several messages in one pass; the fallback level is chosen per pass."""
        sizes = [len(b) for b in batches]
        n = sum(sizes)
        states = np.concatenate([b.states for b in batches]) if n else np.zeros((0, 64), np.float32)
        archetype_ids = np.concatenate([b.archetype_ids for b in batches]) if n else np.zeros(0, np.int8)
        mob_ids = np.concatenate([b.mob_ids for b in batches]) if n else np.zeros(0, np.int64)
        with self._state:
            self.controller.check_health()
            level, probe = self.controller.next_level()
            level = self._runnable(level)
        started = time.perf_counter()
        result = self._run_level(level, states, archetype_ids, mob_ids)
        latency_ms = (time.perf_counter() - started) * 1000
        if n:
            with self._state:
                bad = self.controller.record(level, latency_ms, result.error, probe=probe)
                again = self.controller.level if probe and bad and self.controller.level != level else None
            if again is not None:
                # a failed probe is answered again at the level the controller stays on
                result = self._run_level(again, states, archetype_ids, mob_ids)
        with self._state:
            self._account(result, n, latency_ms)
        return self._split(batches, sizes, result)

    def _runnable(self, level: int) -> int:
        """The level itself, or the next one that can run here (a GM may force a level this
        machine lacks, e.g. level 2 without TensorRT): the reason is logged once."""
        while level < 4:
            why = self._level_unavailable(level)
            if why is None:
                return level
            if self._skipped.get(level) != why:
                self._skipped[level] = why
                log.warning("level %s skipped: %s", level, why)
            level += 1
        return level

    def _run_level(self, level, states, archetype_ids, mob_ids) -> RunResult:
        try:
            return self.run(level, states, archetype_ids, mob_ids)
        except Exception as exc:  # never lose a batch: the rules answer it
            log.exception("level %s failed for the whole batch: %s", level, exc)
            result = self.run(4, states, archetype_ids, mob_ids)
            result.error = True
            return result

    def take_stats(self) -> EngineStats:
        """The statistics since the last call, and a fresh start (passes may be running)."""
        with self._state:
            stats, self.stats = self.stats, EngineStats()
        return stats

    def _account(self, result: RunResult, n: int, latency_ms: float) -> None:
        stats = self.stats
        stats.batches += 1
        stats.decisions += n
        stats.errors += int(result.error)
        stats.cache_hits += result.cache_hits
        stats.cache_lookups += result.cache_lookups
        stats.latencies_ms.append(latency_ms)
        stats.pass_sizes.append(n)
        for level, count in zip(*np.unique(result.levels, return_counts=True), strict=True):
            stats.levels[int(level)] += int(count)

    def _split(self, batches: list[Batch], sizes: list[int], result: RunResult) -> list[list[dict]]:
        out = []
        offset = 0
        labels = result.labels
        for batch, size in zip(batches, sizes, strict=True):
            sl = slice(offset, offset + size)
            offset += size
            actions = result.actions[sl].copy()
            confidence = result.confidence[sl]
            levels = result.levels[sl]
            difficulty = batch.difficulty * self.difficulty
            weaker = difficulty < 1.0
            if weaker.any():
                # deterministic per request and tick: the same tick replayed gives the same answer
                mix = (batch.request_ids[weaker] * np.uint64(2654435761) + np.uint64(batch.tick)) % np.uint64(10_000)
                handed = mix.astype(np.float64) / 10_000.0 >= difficulty[weaker]
                idx = np.flatnonzero(weaker)[handed]
                actions[idx] = Action.TRADITIONAL_AI
            conf = np.round(confidence, 4).tolist()  # NaN (no model probability) becomes None below
            names = [labels[a] for a in range(len(labels))]
            decisions = [
                {"rid": rid, "action": action, "conf": None if c != c else c, "level": level,
                 "model": names[arch] if level <= 3 else LEVEL_NAMES[level]}
                for rid, action, c, level, arch in zip(batch.request_ids.tolist(), actions.tolist(), conf,
                                                       levels.tolist(), batch.archetype_ids.tolist(), strict=True)
            ]
            out.append(decisions)
        return out


class Batcher:
    """Merges the messages of concurrent task threads into engine passes, without a thread of its
    own: a thread that finds fewer than `passes` leaders becomes one and runs the pass itself (no
    hand-off when traffic is light: each wake-up of a sleeping thread costs about a millisecond on
    our machines); threads that arrive while every lead is taken queue their batches, and a leader
    answers them together in its next pass before it lets go. With `passes` 1, passes run one at a
    time and use one core; 2 let a second pass's inference overlap the first's Python work
    (docs/benchmarks.md, "Two engine passes at once")."""

    def __init__(self, engine: Engine, max_rows: int = 16384, passes: int = 1):
        if passes < 1:
            raise ValueError("passes must be at least 1")
        self.engine = engine
        self.max_rows = max_rows
        self._queue: SimpleQueue[tuple[Batch, Future]] = SimpleQueue()
        self._leader = threading.BoundedSemaphore(passes)
        self.merged_passes = 0

    def decide(self, batch: Batch, timeout: float) -> list[dict]:
        future: Future = Future()
        self._queue.put((batch, future))
        deadline = time.monotonic() + timeout
        while not future.done():
            if self._leader.acquire(blocking=False):
                self._lead()
                continue
            # Every lead is taken, and each leader saw our batch queued before we failed to take a
            # lead: one answers it or, having let go already, finds it in its look after letting go.
            # So we sleep until answered (no polling: each wake-up costs GIL time the leaders need).
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no decision within {timeout}s")
            try:
                return future.result(timeout=left)
            except FuturesTimeout:
                raise TimeoutError(f"no decision within {timeout}s") from None
        return future.result()

    def _lead(self) -> None:
        """Drain while holding the lead; after letting go, look once more, so that a batch queued
        between the last drain and the release is not left waiting for a leader that has gone."""
        while True:
            try:
                self._drain()
            finally:
                self._leader.release()
            if self._queue.empty() or not self._leader.acquire(blocking=False):
                return

    def _drain(self) -> None:
        while True:
            items: list[tuple[Batch, Future]] = []
            rows = 0
            while rows < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except Empty:
                    break
                items.append(item)
                rows += len(item[0])
            if not items:
                return
            if len(items) > 1:
                self.merged_passes += 1
            try:
                answers = self.engine.decide([batch for batch, _ in items])
            except Exception as exc:  # decide() answers errors itself; this guards against bugs
                for _, future in items:
                    future.set_exception(exc)
                continue
            for (_, future), answer in zip(items, answers, strict=True):
                future.set_result(answer)
