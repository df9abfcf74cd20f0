"""Helpers to build small hand-made arenas (tests, notebooks): a scenario from a few lines, units placed
where you want them, adventurers held still."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainers.arena.core import VecArena
from trainers.arena.scenario import Scenario, parse_scenario

SMALL_MAP = """
................
................
................
................
.M..............
................
................
..............A.
................
................
................
................
"""


def small_scenario(members: Sequence[str | dict], party: Sequence[tuple[str, str]] = (("melee", "melee_nearest"),),
                   leader: int | None = 0, grid: str = SMALL_MAP, **extra) -> Scenario:
    """A scenario on a 16 x 12 open map (or `grid`); members are archetypes or member dicts, party is
    (class, pattern) pairs."""
    data = {
        "name": extra.pop("name", "small"),
        "split": "train",
        "map": grid,
        "pack": {"leader": leader, "members": [m if isinstance(m, dict) else {"archetype": m} for m in members]},
        "party": [{"class": c, "patterns": [p]} for c, p in party],
        **extra,
    }
    return parse_scenario(data)


def place(arena: VecArena, unit: int, x: int, y: int, arenas: slice | int = slice(None)) -> None:
    """Put unit (0..M-1 monsters, M.. adventurers) on cell (x, y); call arena.refresh() after the moves."""
    arena.x[arenas, unit] = x
    arena.y[arenas, unit] = y
    arena.cell[arenas, unit] = x * arena.map.height + y
    arena.spawn_cell[arenas, unit] = x * arena.map.height + y


def hold(arena: VecArena, units: Sequence[int] | None = None, ticks: int = 10_000) -> None:
    """Keep units (default: the whole party) from acting: a long stun that nothing else touches."""
    units = list(range(arena.M, arena.U)) if units is None else list(units)
    arena.stun[:, units] = np.int16(min(ticks, np.iinfo(np.int16).max))


def set_target(arena: VecArena, unit: int, target: int) -> None:
    arena.target[:, unit] = target
    arena.since_target[:, unit] = 0
