"""PNG plots of evaluation results: win rate over training, and the fusion ablation.

Built on matplotlib's object API with the Agg canvas (no pyplot): no global backend state, no display
needed, safe inside worker processes.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

REFERENCES = ((0.5, "50% (no better than traditional)", "grey"), (0.75, "75% target", "tab:green"))


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=110)
    return path


def plot_win_rates(history: dict[str, list[tuple[int, float, float, float]]], path: Path) -> Path:
    """One line per archetype: paired win rate against the traditional AI per model version, with its
    Wilson band. history[archetype] = [(version, win_rate, wilson_low, wilson_high), ...]."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    for archetype, points in sorted(history.items()):
        points = sorted(points)
        if not points:
            continue
        steps = [p[0] for p in points]
        (line,) = ax.plot(steps, [p[1] for p in points], marker="o", markersize=3, label=archetype)
        ax.fill_between(steps, [p[2] for p in points], [p[3] for p in points], color=line.get_color(), alpha=0.2)
    for y, label, color in REFERENCES:
        ax.axhline(y, linestyle="--", linewidth=1, color=color, label=label)
    ax.set_ylim(0, 1)
    ax.set_xlabel("model version")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("paired win rate vs traditional AI")
    ax.set_title("Win rate per model version (Wilson 95% band)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_ablation(table: dict[str, dict[str, float]], path: Path) -> Path:
    """Per archetype, a bar per fusion member: the win rate with that member removed (weight 0).

    table[archetype][member] = win rate; a key "none" or "full" (nothing removed) is drawn first and
    highlighted, so a drop below it shows what the member contributes.
    """
    archetypes = sorted(table)
    cols = min(3, max(1, len(archetypes)))
    rows = max(1, math.ceil(len(archetypes) / cols))
    fig = Figure(figsize=(5 * cols, 3.6 * rows))
    for k, archetype in enumerate(archetypes):
        ax = fig.add_subplot(rows, cols, k + 1)
        entries = table[archetype]
        baseline = [m for m in ("none", "full") if m in entries]
        members = baseline + sorted(m for m in entries if m not in baseline)
        colors = ["tab:green" if m in baseline else "tab:blue" for m in members]
        ax.bar(range(len(members)), [entries[m] for m in members], color=colors)
        ax.set_xticks(range(len(members)), members, rotation=45, ha="right", fontsize="small")
        for y, _, color in REFERENCES:
            ax.axhline(y, linestyle="--", linewidth=1, color=color)
        ax.set_ylim(0, 1)
        ax.set_title(archetype)
        ax.set_ylabel("win rate without member")
    if not archetypes:
        fig.add_subplot().text(0.5, 0.5, "no ablation data", ha="center", va="center")
    fig.tight_layout()
    return _save(fig, path)


def plot_distillation(rows: list[dict], path: Path) -> Path:
    """Per archetype, a distilled student beside its teacher: held-out win rate (Wilson 95% bars) on the same
    encounters, and inference µs per decision. rows: {"archetype", "teacher", "student"} with each side's
    {"version", "win_rate", "wilson_low", "wilson_high", "us"}."""
    fig = Figure(figsize=(10, 4.5))
    wins, cost = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    names = [r["archetype"] for r in rows]
    width = 0.38
    for offset, side, color in ((-width / 2, "teacher", "tab:blue"), (width / 2, "student", "tab:orange")):
        xs = [i + offset for i in range(len(rows))]
        rates = [r[side]["win_rate"] for r in rows]
        errors = [[r[side]["win_rate"] - r[side]["wilson_low"] for r in rows],
                  [r[side]["wilson_high"] - r[side]["win_rate"] for r in rows]]
        label = "teacher (fused network)" if side == "teacher" else "distilled student"
        wins.bar(xs, rates, width, yerr=errors, capsize=3, color=color, label=label)
        cost.bar(xs, [r[side]["us"] for r in rows], width, color=color, label=label)
    for y, label, color in REFERENCES[1:]:
        wins.axhline(y, linestyle="--", linewidth=1, color=color, label=label)
    for ax in (wins, cost):
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
        ax.grid(alpha=0.3, axis="y")
    wins.set_ylim(0, 1)
    wins.set_ylabel("held-out paired win rate vs traditional AI")
    wins.set_title("Same 1,000 held-out encounters")
    wins.legend(loc="lower right", fontsize="small")
    cost.set_ylabel("µs per decision (1 thread, batch 500)")
    cost.set_title("Inference cost as served")
    fig.tight_layout()
    return _save(fig, path)
