"""Do students generalise to new maps better without the inputs that name a map? A masking ablation.

    PYTHONPATH=. python bench/masked_inputs.py --archetype mage --version 8 [--encounters 500]

The temporal_transformer member learns the version's lookahead dataset exactly as the pipeline trains it
(11 outputs, the candidates' values regressed, the same seed and epoch budget), once per variant, with some
of the 64 state values set to 0 in training and in play:

- `pos_x`/`pos_y` (indices 12, 13: the position as a share of the map's size) tell a student where on which
  map it stands, which means nothing on a new map;
- the unit's own stats (indices 2-9: level, ATK, DEF, MATK, MDEF, speed, range, delay) are the archetype's
  stats times the scenario's difficulty, so they also tell the train scenarios apart.

Each variant then plays alone on the held-out scenarios (paired encounters, Wilson 95 % interval) and on
validation encounters of the train scenarios. Nothing is registered or shipped.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aiworld.mobs.state import MODEL_OUTPUTS, STATE_SIZE
from trainers import supervised
from trainers.evaluate import evaluate
from trainers.networks import TemporalTransformer
from trainers.pipeline import HELDOUT_SEED, VALIDATION_SEED, Budget, Dataset, PipelineArgs, torch_policy

POSITION = (12, 13)
OWN_STATS = tuple(range(2, 10))
VARIANTS = {"all 64 values": (), "without position": POSITION, "without position and own stats": POSITION + OWN_STATS}


def masked_policy(model: torch.nn.Module, mask: np.ndarray):
    play = torch_policy(model)

    def policy(states: np.ndarray, histories: np.ndarray) -> np.ndarray:
        return play(states * mask, histories * mask)

    return policy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archetype", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--encounters", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1, help="training seed (evaluation seeds stay the pipeline's)")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    options = parser.parse_args()
    torch.set_num_threads(1)
    args = PipelineArgs(archetype=options.archetype, version=options.version, out_root=options.models)
    data = Dataset.load(args.out_dir / "dataset.npz")
    targets = data.centred_values()
    tmp = Path(tempfile.mkdtemp(prefix="masked-inputs-"))
    rows = []
    for name in options.variants:
        hidden = VARIANTS[name]
        mask = np.ones(STATE_SIZE, np.float32)
        mask[list(hidden)] = 0.0
        started = time.monotonic()
        torch.manual_seed(options.seed)
        model = TemporalTransformer(n_actions=MODEL_OUTPUTS)
        model.learns_values = True
        model = supervised.train(supervised.SupervisedArgs(run_dir=tmp / f"run-{len(rows)}", seed=options.seed,
                                                           epochs=Budget().supervised_epochs),
                                 model, data.histories * mask, targets, progress=False).model.eval()
        trained_s = time.monotonic() - started
        reports = {split: evaluate(masked_policy(model, mask), options.archetype, args.scenarios(split),
                                   encounters=options.encounters, seed=args.seed + seed_offset, progress=False)
                   for split, seed_offset in (("heldout", HELDOUT_SEED), ("train", VALIDATION_SEED))}
        rows.append((name, trained_s, reports))
        print(f"{name}: trained in {trained_s:.0f} s, held-out {reports['heldout'].win_rate:.1%}, "
              f"validation {reports['train'].win_rate:.1%}", flush=True)
    print(f"\n{options.archetype} v{options.version}: {len(data.actions):,} decisions, training seed {options.seed}, "
          f"{options.encounters} paired encounters per split\n")
    print("| temporal_transformer inputs | train s | held-out win rate | Wilson 95 % | validation win rate |")
    print("|---|---|---|---|---|")
    for name, trained_s, reports in rows:
        held = reports["heldout"]
        print(f"| {name} | {trained_s:.0f} | {held.win_rate:.1%} | [{held.wilson_low:.1%}, {held.wilson_high:.1%}] "
              f"| {reports['train'].win_rate:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
