"""Does the fitted DQN temperature and the selected teacher help? Steps 2-4 of trainers/pipeline.py rerun on
the RL members of an earlier version, then both fused policies are evaluated on the same held-out encounters.

    python bench/teacher_experiment.py models/ --archetype mage --base 1 --version 101 --scale 0.4

Copies <models>/<archetype>/v<base>/{the four RL members}.pt and their metrics to v<version> (the RL
members are kept: only what follows them changes), fits the DQN temperatures, chooses the teacher, records
its rollouts, trains the five supervised members, selects the fusion and evaluates the fused torch policy
of both versions against traditional AI on --encounters held-out encounters with the same seed (the
encounters are paired). No database: nothing is registered or promoted. Writes experiment.json in v<version>.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainers import pipeline  # noqa: E402
from trainers.pipeline import RL_TYPES, SUPERVISED_TYPES, Budget, PipelineArgs  # noqa: E402


def held_out(args: PipelineArgs, weights: dict[str, float], encounters: int, seed: int) -> dict:
    report = pipeline.play_fused(args, weights, "heldout", encounters, seed).to_dict()
    return {k: report[k] for k in ("encounters", "wins", "ties", "losses", "win_rate", "wilson_low", "wilson_high")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--archetype", required=True)
    parser.add_argument("--base", type=int, default=1, help="the version whose RL members are reused")
    parser.add_argument("--version", type=int, default=101, help="where the rerun goes (not registered)")
    parser.add_argument("--scale", type=float, default=0.4, help="the budget scale the base was trained with")
    parser.add_argument("--encounters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)

    budget = Budget().scaled(args.scale)
    base = PipelineArgs(archetype=args.archetype, version=args.base, out_root=args.models, budget=budget,
                        seed=args.seed)
    run = replace(base, version=args.version)
    if run.out_dir.exists():
        shutil.rmtree(run.out_dir)
    run.out_dir.mkdir(parents=True)
    for model_type in RL_TYPES:
        for suffix in (".pt", ".metrics.json"):
            shutil.copy(base.out_dir / f"{model_type}{suffix}", run.out_dir / f"{model_type}{suffix}")

    started = time.monotonic()
    pipeline.dataset(run)  # fits the DQN temperatures, selects the teacher, records its rollouts
    for model_type in SUPERVISED_TYPES:
        pipeline.train_member(run, model_type)
    weights, tried = pipeline.tune_weights(run)
    train_s = time.monotonic() - started
    base_weights = json.loads((base.out_dir / "fusion.json").read_text())["weights"]
    seed = args.seed + 30_000  # jobs.evaluate's seed: the encounters of the shipped evaluation
    result = {
        "archetype": args.archetype, "base_version": args.base, "scale": args.scale, "rerun_seconds": train_s,
        "temperatures": {t: pipeline.member_metrics(run, t)["temperature"] for t in pipeline.DQN_TYPES},
        "teacher": json.loads((run.out_dir / "teacher.json").read_text()),
        "fusion": {"weights": weights, "validation": tried},
        "base_fusion": base_weights,
        "held_out": {"base": held_out(base, base_weights, args.encounters, seed),
                     "rerun": held_out(run, weights, args.encounters, seed)},
    }
    (run.out_dir / "experiment.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
