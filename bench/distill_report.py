"""Distilled students against their teachers, from what `manage.py distill` left on disk: held-out win rates
(the same encounters for both, from summary.json) and inference cost per decision of both served files, timed
alternately in one run (the machine is shared). Prints a markdown table and writes a PNG.

    python bench/distill_report.py models/ --version 9 --out bench/results/learning/distillation.png

Reads <models>/<archetype>/v<version>/summary.json (with its "distill" part) for every archetype that has one.
Cost: one onnxruntime thread, a batch of 500 histories recorded by the distillation (the states the game
visits), median of 30 alternated runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from aiworld.mobs.state import ARCHETYPES  # noqa: E402
from bench.member_size import cost_us  # noqa: E402
from trainers.plots import plot_distillation  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/results/learning/distillation.png"))
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rows = []
    print("| archetype | teacher | teacher win rate [Wilson 95 %] | student win rate [Wilson 95 %] | difference | "
          "agreement (kept-out decisions) | teacher µs/decision | student µs/decision | student / teacher | "
          "promoted |\n|---|---|---|---|---|---|---|---|---|---|")
    for archetype in ARCHETYPES:
        folder = args.models / archetype / f"v{args.version}"
        if not (folder / "summary.json").exists():
            continue
        summary = json.loads((folder / "summary.json").read_text())
        if "distill" not in summary:
            continue
        evaluation, teacher = summary["evaluation"], summary["evaluation"]["teacher"]
        data = np.load(folder / "distill" / f"data_{len(summary['distill']['rounds']) - 1}.npz")["histories"]
        x = data[np.random.default_rng(0).choice(len(data), args.batch, replace=False)].astype(np.float32)
        teacher_file = Path(summary["distill"]["teacher"])
        shipped = teacher_file.parent / "teacher" / teacher_file.name  # where ship_models moves it (TEACHER_DIR)
        teacher_file = shipped if shipped.exists() else teacher_file
        teacher_us, student_us = cost_us([teacher_file,
                                          folder / f"fused.{evaluation['precision']}.onnx"], args.runs, x=x)
        us = {"teacher": teacher_us, "student": student_us}
        rows.append({"archetype": archetype,
                     "teacher": {**teacher, "us": us["teacher"]},
                     "student": {"version": args.version, **{k: evaluation[k] for k in
                                                            ("win_rate", "wilson_low", "wilson_high")},
                                 "us": us["student"]}})
        print(f"| {archetype} | v{teacher['version']} ({teacher['precision']}) | {teacher['win_rate']:.1%} "
              f"[{teacher['wilson_low']:.1%}, {teacher['wilson_high']:.1%}] | {evaluation['win_rate']:.1%} "
              f"[{evaluation['wilson_low']:.1%}, {evaluation['wilson_high']:.1%}] ({evaluation['precision']}) | "
              f"{(evaluation['win_rate'] - teacher['win_rate']) * 100:+.1f} pts | "
              f"{summary['distill']['holdout_agreement']:.1%} | {us['teacher']:.2f} | {us['student']:.2f} | "
              f"{us['student'] / us['teacher']:.2f}x | {'yes' if evaluation['promoted'] else 'no'} |", flush=True)
    if rows:
        print(f"\nplot: {plot_distillation(rows, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
