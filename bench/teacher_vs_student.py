"""Where does a student lose to its teacher? Per held-out scenario, on the same encounters: the lookahead
teacher (search at every decision, trainers/lookahead.py) and a served student (an ONNX file, deciding every
tick) each paired with the traditional pack; and on the student's own states, what the search would have
played instead.

    PYTHONPATH=. python bench/teacher_vs_student.py --archetype tank --encounters 64 \
        --out bench/results/learning/teacher_vs_student_tank.json

Every `hold` ticks of the student's game the search values the 11 candidates of each deciding monster twice,
with independent dice (plays A and B). A picks the teacher's choice; B values it and the student's. The best
of 11 noisy values is biased upwards, so a regret measured on the values that picked the best (A − A) is
partly noise (half or more, docs/benchmarks.md); B[best of A] − B[student's] is not, and is what the student
leaves on the table per decision, at the search's horizon. Both are reported. Slow by design (a search is
11 × continuations arena copies for `horizon` ticks): keep the counts small.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiworld.mobs.state import ARCHETYPES, MODEL_ACTIONS, MODEL_OUTPUTS, TRADITIONAL_OUTPUT, Action  # noqa: E402
from bench.lookahead_teacher import play  # noqa: E402
from trainers import lookahead  # noqa: E402
from trainers.evaluate import Z_95, Policy, onnx_policy, paired_outcomes, play_side  # noqa: E402

OUTPUT_NAMES = tuple(Action(i).name.lower() for i in range(MODEL_ACTIONS)) + ("traditional",)  # per output index


def student_side(name: str, archetype: str, arenas: int, seed: int, policy: Policy,
                 settings: lookahead.LookaheadArgs | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Final scores of `arenas` encounters with the archetype's monsters on `policy` every tick (as served,
    trainers/evaluate.play_side), and, unless settings is None, at every `settings.hold`-th tick the student's
    output index and the search's values A and B (float32[n, 11] each) of its deciding monsters. The searches
    play copies: the game itself is the same with or without them."""
    from trainers.arena import VecArena, load_scenario

    arena = VecArena(load_scenario(name), arenas, seed=seed, auto_reset=False)
    rng = np.random.default_rng([seed, 2])
    chosen_parts: list[np.ndarray] = []
    values_a: list[np.ndarray] = []
    values_b: list[np.ndarray] = []

    def search(tick: int, acting: np.ndarray, chosen: np.ndarray) -> None:
        if settings is None or tick % settings.hold:
            return
        ea, ma = np.nonzero(acting)
        for out in (values_a, values_b):
            out.append(lookahead.candidate_values(
                arena, ea, ma, settings.hold, settings.horizon, int(rng.integers(2**31)),
                settings.continuations, settings.fresh_dice, settings.redraw_patterns))
        chosen_parts.append(np.where(chosen == int(Action.TRADITIONAL_AI), TRADITIONAL_OUTPUT, chosen).astype(np.int64))

    result = play_side(arena, policy, ARCHETYPES.index(archetype), observer=search)
    empty = np.zeros((0, MODEL_OUTPUTS), np.float32)
    record = {"student": np.concatenate(chosen_parts) if chosen_parts else np.zeros(0, np.int64),
              "a": np.concatenate(values_a) if values_a else empty,
              "b": np.concatenate(values_b) if values_b else empty}
    return result.score.astype(np.float32), record  # as the arena keeps it (and bench/lookahead_teacher.play)


def versus_traditional(diffs: np.ndarray) -> dict[str, float]:
    """Paired outcomes of score differences (side − traditional), as trainers/evaluate.py counts them, and the
    mean difference."""
    return {**paired_outcomes(diffs), "mean_score_gain": float(diffs.mean()) if len(diffs) else math.nan}


def _mean_and_half_width(x: np.ndarray) -> list[float]:
    """[mean, half-width of its 95 % normal interval]."""
    if len(x) < 2:
        return [float(x.mean()) if len(x) else math.nan, math.nan]
    return [float(x.mean()), float(Z_95 * x.std(ddof=1) / math.sqrt(len(x)))]


def _shares(indices: np.ndarray) -> dict[str, float]:
    counts = np.bincount(indices, minlength=MODEL_OUTPUTS)
    return {name: float(c / max(len(indices), 1)) for name, c in zip(OUTPUT_NAMES, counts, strict=True)}


def decision_summary(student: np.ndarray, a: np.ndarray, b: np.ndarray, margin: float = 0.0) -> dict:
    """What the search says of the student's decisions (see the module docstring): agreement with the
    teacher's choice, how often the teacher agrees with itself (best of A = best of B: how reliable one
    label is), regret in-sample (A − A, biased upwards) and cross-validated (B − B), the per-decision
    gain over the traditional AI (B) of the teacher's choice and of the student's, and where the
    cross-validated regret lies, by the student's output and by the teacher's."""
    n = len(student)
    rows = np.arange(n)
    best = lookahead.best_outputs(a, margin)
    cross = b[rows, best] - b[rows, student]
    total = float(cross.sum())

    def split(by: np.ndarray) -> dict[str, float]:
        return {name: float(cross[by == i].sum() / total) if total else math.nan
                for i, name in enumerate(OUTPUT_NAMES) if (by == i).any()}

    return {
        "decisions": n,
        "agreement": float((best == student).mean()) if n else math.nan,
        "teacher_self_agreement": float((best == lookahead.best_outputs(b, margin)).mean()) if n else math.nan,
        "regret_in_sample": _mean_and_half_width(a[rows, best] - a[rows, student]),
        "regret_cross_validated": _mean_and_half_width(cross),
        "gain_over_traditional_teacher": _mean_and_half_width(b[rows, best] - b[:, TRADITIONAL_OUTPUT]),
        "gain_over_traditional_student": _mean_and_half_width(b[rows, student] - b[:, TRADITIONAL_OUTPUT]),
        "student_outputs": _shares(student),
        "teacher_outputs_on_student_states": _shares(best),
        "regret_share_by_student_output": split(student),
        "regret_share_by_teacher_output": split(best),
    }


def compare(archetype: str, scenario: str, encounters: int, seed: int, policy: Policy,
            settings: lookahead.LookaheadArgs) -> dict:
    """One scenario: the teacher, the student and the traditional pack on the same `encounters` arenas."""
    started = time.perf_counter()
    traditional = play(scenario, archetype, encounters, seed, None)
    teacher = play(scenario, archetype, encounters, seed, settings)
    student, record = student_side(scenario, archetype, encounters, seed, policy, settings)
    return {"teacher": versus_traditional(teacher - traditional),
            "student": versus_traditional(student - traditional),
            "student_decisions": decision_summary(record["student"], record["a"], record["b"], settings.margin),
            "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archetype", required=True, choices=ARCHETYPES)
    parser.add_argument("--onnx", type=Path, help="the student (default: models/shipped/<archetype>/fused.fp32.onnx)")
    parser.add_argument("--scenarios", nargs="+", help="default: the archetype's held-out scenarios")
    parser.add_argument("--encounters", type=int, default=48, help="per scenario")
    parser.add_argument("--seed", type=int, default=30_000,
                        help="scenario i plays seed + i (bench/lookahead_teacher.py)")
    parser.add_argument("--continuations", type=int, default=2, help="plays per candidate (the pipeline's 2)")
    parser.add_argument("--horizon", type=int, default=lookahead.LookaheadArgs.horizon)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from trainers.pipeline import scenarios_with

    onnx = args.onnx or Path(__file__).resolve().parents[1] / "models" / "shipped" / args.archetype / "fused.fp32.onnx"
    settings = lookahead.LookaheadArgs(continuations=args.continuations, horizon=args.horizon)
    policy = onnx_policy(onnx)
    scenarios = args.scenarios or scenarios_with(args.archetype, "heldout")
    report = {"archetype": args.archetype, "student": str(onnx), "settings": asdict(settings),
              "encounters_per_scenario": args.encounters, "seed": args.seed, "scenarios": {}}
    for i, name in enumerate(tqdm(scenarios, desc=f"{args.archetype} teacher vs student", unit="scenario")):
        report["scenarios"][name] = compare(args.archetype, name, args.encounters, args.seed + i, policy, settings)
        print(name, json.dumps(report["scenarios"][name]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
