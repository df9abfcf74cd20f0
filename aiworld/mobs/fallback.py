"""The 5-level fallback: which level answers the next batch, and when to move.

Levels: 1 GPU FP16 (CUDA/TensorRT), 2 GPU INT8 (TensorRT only), 3 CPU INT8, 4 rules, 5 traditional AI
(action 255: the map server's own mob AI). Pure logic with an injectable clock; the engine reports
every batch's outcome and asks which level to use.

- Degrade one level (to the next available one) after `bad_streak` consecutive bad batches: an
  error, or a latency above `over_budget` x the level's budget (seed thresholds: 3 and 1.5x of
  20/30/80/120 ms). GPU loss or memory pressure drops GPU levels at once.
- Recover one level at a time, with hysteresis: after `recover_after` consecutive good batches and
  at least `dwell_s` at the current level, the next batches are served by the better level as
  probes (real requests); `probe_successes` good probes in a row move up, one bad probe keeps the
  level and doubles the dwell (up to `max_dwell_s`). This works from level 5 too: every level,
  5 included, records its outcomes, so recovery never waits for samples that cannot come.
- A forced level (set by a GM) pins the level; nothing moves until it is cleared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

BUDGET_MS = {1: 20.0, 2: 30.0, 3: 80.0, 4: 120.0, 5: float("inf")}
LEVEL_NAMES = {1: "gpu_fp16", 2: "gpu_int8", 3: "cpu_int8", 4: "rules", 5: "traditional"}


@dataclass
class Transition:
    from_level: int
    to_level: int
    reason: str
    at: float


@dataclass
class FallbackPolicy:
    bad_streak: int = 3
    over_budget: float = 1.5
    recover_after: int = 50
    dwell_s: float = 30.0
    max_dwell_s: float = 600.0
    probe_successes: int = 3


@dataclass
class FallbackController:
    available: Callable[[int], str | None]  # level -> None when usable, else why not
    policy: FallbackPolicy = field(default_factory=FallbackPolicy)
    clock: Callable[[], float] = time.monotonic
    on_transition: Callable[[Transition], None] | None = None
    forced: int | None = None

    def __post_init__(self) -> None:
        self.level = self.best_available()
        self._since = self.clock()
        self._dwell = self.policy.dwell_s
        self._bad = 0
        self._good = 0
        self._probe_good = 0
        self.transitions: list[Transition] = []

    # -- which level -----------------------------------------------------------------------------
    def best_available(self, start: int = 1) -> int:
        for level in range(start, 5):
            if self.available(level) is None:
                return level
        return 5 if start == 5 else 4

    def next_level(self) -> tuple[int, bool]:
        """(level to serve the next batch with, whether it is a recovery probe)."""
        if self.forced is not None:
            return self.forced, False
        probe = self._probe_candidate()
        if probe is not None:
            return probe, True
        return self.level, False

    def _probe_candidate(self) -> int | None:
        if self._good < self.policy.recover_after and self._probe_good == 0:
            return None
        if self.clock() - self._since < self._dwell:
            return None
        better = self.best_available() if self.level > 1 else None
        if better is None or better >= self.level:
            return None
        # one level at a time: the nearest better level that is available
        for level in range(self.level - 1, 0, -1):
            if self.available(level) is None:
                return level
        return None

    # -- outcomes --------------------------------------------------------------------------------
    def record(self, level: int, latency_ms: float, error: bool, probe: bool = False) -> bool:
        """Count one batch's outcome; returns whether it was bad (an error or over budget)."""
        bad = error or latency_ms > self.policy.over_budget * BUDGET_MS[level]
        if self.forced is not None:
            return bad
        if probe:
            if bad:
                self._probe_good = 0
                self._good = 0
                self._since = self.clock()
                self._dwell = min(self._dwell * 2, self.policy.max_dwell_s)
            else:
                self._probe_good += 1
                if self._probe_good >= self.policy.probe_successes:
                    self._move(level, f"recovered: {self._probe_good} good probes at level {level}")
                    self._dwell = self.policy.dwell_s
            return bad
        if level != self.level:
            return bad  # an answer from a level we have since left
        if bad:
            self._bad += 1
            self._good = 0
            if self._bad >= self.policy.bad_streak:
                why = "errors" if error else f"latency {latency_ms:.1f} ms > {self.policy.over_budget}x budget"
                self.degrade(f"{self._bad} bad batches in a row ({why})")
        else:
            self._bad = 0
            self._good += 1
        return bad

    def degrade(self, reason: str) -> None:
        if self.level >= 5:
            return
        target = 5 if self.level == 4 else self.best_available(self.level + 1)
        self._move(target, reason)

    def check_health(self) -> None:
        """Drop a GPU level at once when its device is gone or out of memory."""
        if self.forced is None and self.level <= 2:
            why = self.available(self.level)
            if why is not None:
                self._move(self.best_available(self.level + 1), f"level {self.level} unavailable: {why}")

    def force(self, level: int | None) -> None:
        if level is not None and level not in LEVEL_NAMES:
            raise ValueError(f"level must be 1..5, got {level}")
        if level == self.forced:
            return
        previous = self.forced if self.forced is not None else self.level
        self.forced = level
        if level is not None:
            self._notify(Transition(previous, level, "forced by a GM", self.clock()))
        else:
            self._move(self.best_available(), "GM cleared the forced level")

    def reset_to(self, level: int, reason: str) -> None:
        self._move(level, reason)

    def _move(self, to_level: int, reason: str) -> None:
        from_level = self.level
        self.level = to_level
        self._since = self.clock()
        self._bad = self._good = self._probe_good = 0
        if from_level != to_level:
            self._notify(Transition(from_level, to_level, reason, self._since))

    def _notify(self, transition: Transition) -> None:
        self.transitions.append(transition)
        del self.transitions[:-100]
        if self.on_transition is not None:
            self.on_transition(transition)
