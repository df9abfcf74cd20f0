"""Arena throughput: monster-steps per second on one CPU thread (numpy only, no torch, no servers).

One monster-step is one monster advanced by one 100 ms tick, including observe() (the 64-value states of
every monster), the traditional AI where a monster plays 255, the scripted party and the rewards.

    OMP_NUM_THREADS=1 python bench/arena.py --arenas 1024 --steps 300 [--scenario ruins]

Prints one JSON document: per action mode ("traditional": the whole pack plays 255; "policy": random
actions 0..9 as a learned policy would send; "mixed": half and half) the monster-steps/s and the
milliseconds per tick spent in observe() and step().
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single thread: the target is per CPU core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiworld.mobs.state import Action  # noqa: E402
from trainers.arena import VecArena, load_scenario  # noqa: E402


def actions_for(mode: str, rng: np.random.Generator, E: int, M: int) -> np.ndarray:
    if mode == "traditional":
        return np.full((E, M), Action.TRADITIONAL_AI, np.int16)
    policy = rng.integers(0, 10, (E, M)).astype(np.int16)
    if mode == "policy":
        return policy
    return np.where(rng.random((E, M)) < 0.5, Action.TRADITIONAL_AI, policy).astype(np.int16)


def measure(scenario: str, arenas: int, steps: int, warmup: int, mode: str, seed: int) -> dict:
    arena = VecArena(load_scenario(scenario), arenas, seed=seed, auto_reset=True)
    rng = np.random.default_rng(seed)
    plan = [actions_for(mode, rng, arena.E, arena.M) for _ in range(min(steps, 64))]  # drawn outside the clock
    for i in range(warmup):
        arena.observe()
        arena.step(plan[i % len(plan)])
    observe_s = step_s = 0.0
    encounters = 0
    for i in range(steps):
        t0 = time.perf_counter()
        arena.observe()
        t1 = time.perf_counter()
        result = arena.step(plan[i % len(plan)])
        t2 = time.perf_counter()
        observe_s += t1 - t0
        step_s += t2 - t1
        encounters += int(result.done.sum())
    total = observe_s + step_s
    return {
        "monster_steps_per_s": round(arena.E * arena.M * steps / total),
        "ms_per_tick": round(1000 * total / steps, 3),
        "observe_ms_per_tick": round(1000 * observe_s / steps, 3),
        "step_ms_per_tick": round(1000 * step_s / steps, 3),
        "encounters_finished": encounters,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arenas", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--scenario", default="ruins", help="ruins has the largest pack (6) and party (5)")
    parser.add_argument("--modes", default="traditional,policy,mixed")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    sc = load_scenario(options.scenario)
    report = {
        "scenario": options.scenario,
        "arenas": options.arenas,
        "monsters_per_arena": len(sc.members),
        "adventurers_per_arena": len(sc.party),
        "steps": options.steps,
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "modes": {},
    }
    for mode in options.modes.split(","):
        report["modes"][mode] = measure(options.scenario, options.arenas, options.steps, options.warmup, mode,
                                        options.seed)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
