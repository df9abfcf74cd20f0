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
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from aiworld.mobs.state import ARCHETYPES
from trainers.plots import plot_distillation


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def costs(paths: dict[str, Path], x: np.ndarray, runs: int) -> dict[str, float]:
    """Median µs per decision of each file, the files run alternately."""
    sessions = {side: _session(p) for side, p in paths.items()}
    times: dict[str, list[float]] = {side: [] for side in paths}
    for i in range(runs + 3):
        for side, session in sessions.items():
            started = time.perf_counter()
            session.run(None, {session.get_inputs()[0].name: x})
            if i >= 3:  # warm-up
                times[side].append(time.perf_counter() - started)
    return {side: float(np.median(t)) / len(x) * 1e6 for side, t in times.items()}


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
        us = costs({"teacher": Path(summary["distill"]["teacher"]),
                    "student": folder / f"fused.{evaluation['precision']}.onnx"}, x, args.runs)
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
