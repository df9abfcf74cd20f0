"""Tables and plots for docs/benchmarks.md from what the learning pipeline left on disk.

    python bench/learning_report.py models/ --out bench/results/learning [--versions ranged=4,tank=5]

Reads <models>/<archetype>/v<N>/summary.json (written by `manage.py train --all`), ablation.json and
evaluation.json when present (written by bench/learning_eval.py), and prints markdown: training time
per member, export parity and sizes, held-out win rates with Wilson intervals, the ablation table.
Writes the plots (PNG) next to the JSON it reads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiworld.mobs.state import ARCHETYPES
from trainers.pipeline import MEMBER_TYPES


def latest(root: Path, archetype: str, pinned: dict[str, int] | None = None) -> Path | None:
    """The archetype's version folder named in `pinned`, else its newest one with a summary.json."""
    if pinned and archetype in pinned:
        folder = root / archetype / f"v{pinned[archetype]}"
        return folder if (folder / "summary.json").exists() else None
    versions = sorted((p for p in (root / archetype).glob("v*") if (p / "summary.json").exists()),
                      key=lambda p: int(p.name[1:]))
    return versions[-1] if versions else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench/results/learning"))
    parser.add_argument("--versions", default="",
                        help="archetype=version pairs, comma-separated (e.g. the served ones); others: the newest")
    args = parser.parse_args(argv)
    pinned = {a: int(v) for a, v in (pair.split("=") for pair in args.versions.split(",") if pair.strip())}
    args.out.mkdir(parents=True, exist_ok=True)

    rows, evals, ablations, sizes = [], {}, {}, 0
    for archetype in ARCHETYPES:
        folder = latest(args.models, archetype, pinned)
        if folder is None:
            continue
        summary = json.loads((folder / "summary.json").read_text())
        for model_type in MEMBER_TYPES:
            m = summary["members"].get(model_type, {})
            export = summary.get("export", {}).get(model_type, {})
            int8 = export.get("int8", {})
            sizes += int8.get("size_bytes", 0)
            quality = m.get("episodic_return_mean", m.get("val_accuracy", m.get("val_loss")))
            rows.append(f"| {archetype} | {model_type} | {m.get('algorithm', '')} | {m.get('steps', '')} | "
                        f"{m.get('train_seconds', '')} | {quality if quality is None else round(float(quality), 3)} | "
                        f"{int8.get('argmax_agreement', float('nan')):.4f} | {int8.get('size_bytes', 0) / 1024:.0f} |")
        if "evaluation" in summary:
            evals[archetype] = summary["evaluation"]
        ablation = folder / "ablation.json"
        if ablation.exists():
            ablations[archetype] = json.loads(ablation.read_text())
    print("| archetype | model | algorithm | steps | train s | return / val acc | INT8 agreement | INT8 KiB |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nINT8 members together: {sizes / 1e6:.2f} MB\n")
    if evals:
        print("| archetype | encounters | wins | ties | win rate | Wilson 95% | ML score | traditional score |")
        print("|---|---|---|---|---|---|---|---|")
        for archetype, r in evals.items():
            print(f"| {archetype} | {r['encounters']} | {r['wins']} | {r.get('ties', '')} | {r['win_rate']:.1%} | "
                  f"[{r['wilson_low']:.1%}, {r['wilson_high']:.1%}] | {r.get('mean_score_ml', 0):.3f} | "
                  f"{r.get('mean_score_traditional', 0):.3f} |")
    if ablations:
        from trainers.plots import plot_ablation

        print("\n| archetype | full | " + " | ".join(MEMBER_TYPES) + " |")
        print("|---|---|" + "---|" * len(MEMBER_TYPES))
        for archetype, table in ablations.items():
            cells = []
            for t in MEMBER_TYPES:
                key = f"-{t}" if f"-{t}" in table else f"+{t}"
                cells.append(f"{key[0]} {table[key]:.1%}" if key in table else "")
            print(f"| {archetype} | {table['full']:.1%} | " + " | ".join(cells) + " |")
        plot_ablation(ablations, args.out / "ablation.png")
    (args.out / "report.json").write_text(json.dumps({"evaluations": evals, "ablations": ablations,
                                                      "int8_bytes": sizes}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
