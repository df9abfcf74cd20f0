"""How good is the lookahead teacher itself? It plays held-out encounters by searching at every decision
(trainers/lookahead.py), paired with the traditional pack as in trainers/evaluate.py: the bound the
supervised members, which learn from it, could reach.

    python bench/lookahead_teacher.py --archetypes tank mage --encounters 24 \
        --out bench/results/learning/lookahead_teacher.json

Slow by design (every decision plays 11 arena copies for `horizon` ticks): keep the counts small.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiworld.mobs.state import ARCHETYPES  # noqa: E402
from trainers import lookahead  # noqa: E402
from trainers.evaluate import HistoryBuffer, Policy, onnx_policy  # noqa: E402


def play(name: str, archetype: str, arenas: int, seed: int, settings: lookahead.LookaheadArgs | None,
         continuation: Policy | None = None) -> np.ndarray:
    """Final scores of `arenas` encounters; settings None: the whole pack plays the traditional AI. With a
    `continuation` policy the search's copies play it after each candidate's hold (lookahead.Continuation)."""
    from trainers.arena import VecArena, load_scenario

    arena = VecArena(load_scenario(name), arenas, seed=seed, auto_reset=False)
    controlled = np.asarray(arena.archetype) == ARCHETYPES.index(archetype)
    actions = np.full((arena.E, arena.M), lookahead.TRADITIONAL, np.int16)
    rng = np.random.default_rng(seed)
    memory = HistoryBuffer(arena.E, arena.M) if continuation is not None else None
    t = 0
    while not arena.finished.all():
        if memory is not None:
            states = arena.observe()
            memory.push(states)
        if settings is not None and t % settings.hold == 0:
            actions.fill(lookahead.TRADITIONAL)
            follow = None if memory is None else lookahead.Continuation(continuation, controlled,
                                                                        memory.histories(), states)
            found = lookahead.search(arena, controlled, settings, rng, follow)
            if found is not None:
                deciding, _values, best = found
                actions[deciding] = lookahead.CANDIDATES[best]
        arena.step(actions)
        t += 1
    return arena._scores()[2]


def compare(archetype: str, names: list[str], per: int, seed: int, settings: lookahead.LookaheadArgs,
            continuation: Policy | None = None, student: Policy | None = None) -> dict:
    """The teacher (and, given, a student playing every tick as served) against the traditional pack on the same
    `per` encounters of each scenario (scenario i with seed + i): outcomes overall and per scenario."""
    from bench.teacher_vs_student import student_side, versus_traditional  # it imports play from here

    teacher_parts, student_parts, per_scenario = [], [], {}
    for i, name in enumerate(names):
        traditional = play(name, archetype, per, seed + i, None)
        teacher_parts.append(play(name, archetype, per, seed + i, settings, continuation) - traditional)
        per_scenario[name] = {"teacher": versus_traditional(teacher_parts[-1])}
        if student is not None:
            student_parts.append(student_side(name, archetype, per, seed + i, student, None)[0] - traditional)
            per_scenario[name]["student"] = versus_traditional(student_parts[-1])
    result = versus_traditional(np.concatenate(teacher_parts))
    if student is not None:
        result["student"] = versus_traditional(np.concatenate(student_parts))
    return {**result, "per_scenario": per_scenario}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archetypes", nargs="+", default=list(ARCHETYPES), choices=ARCHETYPES)
    parser.add_argument("--encounters", type=int, default=24, help="per archetype, split over its held-out scenarios")
    parser.add_argument("--seed", type=int, default=30_000)
    parser.add_argument("--continuations", type=int, default=1,
                        help="plays per candidate the teacher averages (the pipeline's default is 2)")
    parser.add_argument("--fresh-dice", action="store_true",
                        help="the copies do not replay the real arena's dice of the decision's tick (LookaheadArgs)")
    parser.add_argument("--redraw-patterns", action="store_true",
                        help="each play draws the party's behaviour patterns anew (LookaheadArgs.redraw_patterns)")
    parser.add_argument("--horizon", type=int, default=lookahead.LookaheadArgs.horizon,
                        help="ticks from a decision to the score that values it (LookaheadArgs.horizon)")
    parser.add_argument("--scenarios", nargs="+",
                        help="play these (scenario i with seed --seed + i) instead of each archetype's held-out ones")
    parser.add_argument("--continuation", type=Path, metavar="ONNX",
                        help="a served policy file (a shipped student) that plays the search's copies after each "
                             "candidate's hold instead of the traditional AI: one improvement step over it")
    parser.add_argument("--student", type=Path, metavar="ONNX",
                        help="also play this served policy file (a shipped student, every tick, as served) on the "
                             "same encounters, so that teacher and student are compared pair for pair")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from trainers.pipeline import scenarios_with

    settings = lookahead.LookaheadArgs(continuations=args.continuations, fresh_dice=args.fresh_dice,
                                        redraw_patterns=args.redraw_patterns, horizon=args.horizon)
    results = {}
    for archetype in args.archetypes:
        started = time.perf_counter()
        names = args.scenarios or scenarios_with(archetype, "heldout")
        per = max(1, args.encounters // len(names))
        follow = onnx_policy(args.continuation) if args.continuation else None
        student = onnx_policy(args.student) if args.student else None
        results[archetype] = {**compare(archetype, names, per, args.seed, settings, follow, student),
                              "seconds": round(time.perf_counter() - started, 1)}
        print(archetype, json.dumps({k: v for k, v in results[archetype].items() if k != "per_scenario"}), flush=True)
    report = {"settings": asdict(settings), "seed": args.seed, "scenarios": args.scenarios or "heldout",
              "continuation": str(args.continuation) if args.continuation else "traditional",
              "student": str(args.student) if args.student else None, "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
