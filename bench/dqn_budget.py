"""Does a DQN member win more with a bigger training budget? One member retrained at --scale, then it and the
base version's same member play the same held-out encounters alone (paired), against traditional AI.

    PYTHONPATH=. python bench/dqn_budget.py models/ --archetype mage --model-type combat_dqn --scale 1.0

Trains into <models>/<archetype>/v<version> (default 102, not registered; the trainer resumes from its
checkpoint there), fits its temperature as the pipeline does, and writes dqn_budget.json there.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainers import pipeline  # noqa: E402
from trainers.pipeline import Budget, PipelineArgs  # noqa: E402


def alone(args: PipelineArgs, model_type: str, split: str, encounters: int, seed: int) -> dict:
    report = pipeline.play_fused(args, {model_type: 1.0}, split, encounters, seed).to_dict()
    return {k: report[k] for k in ("encounters", "wins", "ties", "win_rate", "wilson_low", "wilson_high")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--archetype", required=True)
    parser.add_argument("--model-type", default="combat_dqn", choices=pipeline.DQN_TYPES)
    parser.add_argument("--base", type=int, default=1)
    parser.add_argument("--version", type=int, default=102)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--encounters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--procedural", type=int, default=0,
                        help="generated train scenarios added to the training mix (trainers/arena/procedural.py)")
    args = parser.parse_args()
    torch.set_num_threads(2)

    base = PipelineArgs(archetype=args.archetype, version=args.base, out_root=args.models, seed=args.seed)
    run = replace(base, version=args.version, budget=Budget().scaled(args.scale), procedural=args.procedural)
    metrics = pipeline.train_member(run, args.model_type)
    result = {"archetype": args.archetype, "model_type": args.model_type, "scale": args.scale,
              "procedural": args.procedural,
              "steps": metrics.get("steps"), "train_seconds": metrics.get("train_seconds"),
              "base_steps": pipeline.member_metrics(base, args.model_type).get("steps")}
    splits = (("train", args.seed + pipeline.VALIDATION_SEED, 96), ("heldout", args.seed + pipeline.HELDOUT_SEED,
                                                                    args.encounters))
    for split, seed, encounters in splits:
        result[split] = {"base": alone(base, args.model_type, split, encounters, seed),
                         "retrained": alone(run, args.model_type, split, encounters, seed)}
    (run.out_dir / "dqn_budget.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
