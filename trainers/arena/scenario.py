"""Scenarios: a map, a pack and a party, read from trainers/scenarios/<name>.yaml.

```yaml
name: open_field
split: train                # or heldout (never used in training)
description: ...
max_steps: 600              # ticks (100 ms): 60 s, then the encounter is a timeout
difficulty: 1.0             # scales the monsters' HP, ATK and MATK
party_level: 1.0            # scales the adventurers' HP, ATK and MATK
map: |                      # first row is the north edge; '.' floor, '#' wall (blocks walking and sight),
  ..M..#....A..             # '~' water (blocks walking only), 'M' / 'A' floor where monsters / adventurers spawn
map_from: open_field        # instead of `map`: another scenario's map (same split: a train variant
                            # never borrows a held-out map)
pack:
  leader: 0                 # index of the pack leader (followers stay near it when idle), or null
  members:
    - archetype: tank       # one of aiworld.mobs.state.ARCHETYPES
      aggressive: false     # optional mode overrides: aggressive, assist, can_move; boss, guard flags
party:
  - class: melee            # melee, ranged, mage or healer
    patterns: [melee_nearest, melee_cautious]   # one is drawn per encounter (trainers/arena/adventurers.py)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from aiworld.mobs.state import ARCHETYPES
from trainers.arena.adventurers import PATTERN_CLASS, PATTERN_ID
from trainers.arena.geometry import FLOOR, WALL, WATER
from trainers.arena.units import CLASSES

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SPLITS = ("train", "heldout")
MAX_SIDE = 48  # the path tables are [cells, cells]: keep maps small
_SYMBOLS = {".": FLOOR, "#": WALL, "~": WATER, "M": FLOOR, "A": FLOOR}


class ScenarioError(ValueError):
    """A scenario file that does not describe a playable encounter."""


@dataclass(frozen=True)
class MemberSpec:
    archetype: str
    aggressive: bool | None = None  # None: the archetype's rAthena mode
    assist: bool | None = None
    can_move: bool | None = None
    boss: bool = False
    guard: bool = False  # holds its post: never walks more than GUARD_RADIUS cells from its spawn cell


@dataclass(frozen=True)
class AdventurerSpec:
    cls: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    split: str
    grid: np.ndarray  # uint8[W, H]
    monster_cells: np.ndarray  # int32 cells where the pack spawns
    party_cells: np.ndarray  # int32 cells where the party spawns
    members: tuple[MemberSpec, ...]
    party: tuple[AdventurerSpec, ...]
    leader: int | None = 0
    max_steps: int = 600
    difficulty: float = 1.0
    party_level: float = 1.0
    description: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def width(self) -> int:
        return int(self.grid.shape[0])

    @property
    def height(self) -> int:
        return int(self.grid.shape[1])

    @property
    def archetypes(self) -> tuple[str, ...]:
        return tuple(m.archetype for m in self.members)


def _parse_map(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [row.strip() for row in text.strip("\n").splitlines() if row.strip()]
    if not rows:
        raise ScenarioError("empty map")
    width, height = len(rows[0]), len(rows)
    if any(len(row) != width for row in rows):
        raise ScenarioError("map rows differ in length")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ScenarioError(f"map {width}x{height} larger than {MAX_SIDE}x{MAX_SIDE}")
    bad = {ch for row in rows for ch in row} - set(_SYMBOLS)
    if bad:
        raise ScenarioError(f"unknown map symbols {sorted(bad)}")
    grid = np.zeros((width, height), np.uint8)
    monster, party = [], []
    for r, row in enumerate(rows):
        y = height - 1 - r  # the first row is the north edge (+y)
        for x, ch in enumerate(row):
            grid[x, y] = _SYMBOLS[ch]
            if ch == "M":
                monster.append(x * height + y)
            elif ch == "A":
                party.append(x * height + y)
    return grid, np.array(sorted(monster), np.int32), np.array(sorted(party), np.int32)


def _flag(raw: dict, key: str) -> bool | None:
    value = raw.get(key)
    return None if value is None else bool(value)


def parse_scenario(data: dict, name: str | None = None, path: Path | None = None) -> Scenario:
    """A Scenario from the YAML document's mapping (validated)."""
    name = str(data.get("name") or name or "unnamed")
    split = data.get("split", "train")
    if split not in SPLITS:
        raise ScenarioError(f"{name}: split must be one of {SPLITS}, got {split!r}")
    grid, monster_cells, party_cells = _parse_map(data.get("map") or "")
    if len(monster_cells) == 0 or len(party_cells) == 0:
        raise ScenarioError(f"{name}: the map needs 'M' and 'A' spawn cells")
    pack = data.get("pack") or {}
    members = []
    for raw in pack.get("members") or []:
        archetype = raw.get("archetype")
        if archetype not in ARCHETYPES:
            raise ScenarioError(f"{name}: unknown archetype {archetype!r}")
        members.append(MemberSpec(archetype, _flag(raw, "aggressive"), _flag(raw, "assist"), _flag(raw, "can_move"),
                                  bool(raw.get("boss", False)), bool(raw.get("guard", False))))
    if not 1 <= len(members) <= 10:
        raise ScenarioError(f"{name}: a pack has 1 to 10 members, got {len(members)}")
    leader = pack.get("leader", 0)
    if leader is not None and not 0 <= int(leader) < len(members):
        raise ScenarioError(f"{name}: leader {leader} is not a member index")
    party = []
    for raw in data.get("party") or []:
        cls = raw.get("class")
        if cls not in CLASSES:
            raise ScenarioError(f"{name}: unknown adventurer class {cls!r}")
        patterns = tuple(raw.get("patterns") or [])
        if not patterns:
            raise ScenarioError(f"{name}: adventurer of class {cls} without patterns")
        for pattern in patterns:
            if pattern not in PATTERN_ID:
                raise ScenarioError(f"{name}: unknown pattern {pattern!r}")
            if PATTERN_CLASS[pattern] != cls:
                raise ScenarioError(f"{name}: pattern {pattern!r} is not a {cls} pattern")
        party.append(AdventurerSpec(cls, patterns))
    if not 1 <= len(party) <= 10:
        raise ScenarioError(f"{name}: a party has 1 to 10 adventurers, got {len(party)}")
    max_steps = int(data.get("max_steps", 600))
    if max_steps < 1:
        raise ScenarioError(f"{name}: max_steps must be positive")
    return Scenario(name=name, split=split, grid=grid, monster_cells=monster_cells, party_cells=party_cells,
                    members=tuple(members), party=tuple(party), leader=None if leader is None else int(leader),
                    max_steps=max_steps, difficulty=float(data.get("difficulty", 1.0)),
                    party_level=float(data.get("party_level", 1.0)),
                    description=str(data.get("description", "")).strip(), path=path)


def load_scenario(name_or_path: str | Path) -> Scenario:
    """trainers/scenarios/<name>.yaml, or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no scenario {name_or_path!r} ({path})")
    return parse_scenario(_with_borrowed_map(_document(path), path), name=path.stem, path=path)


def _document(path: Path) -> dict:
    with path.open() as handle:
        return yaml.safe_load(handle) or {}


def _with_borrowed_map(data: dict, path: Path) -> dict:
    """`map_from: other` (a scenario in trainers/scenarios) replaced by that scenario's map."""
    source = data.get("map_from")
    if source is None:
        return data
    name = data.get("name") or path.stem
    if "map" in data:
        raise ScenarioError(f"{name}: give either map or map_from, not both")
    source_path = SCENARIO_DIR / f"{source}.yaml"
    if not source_path.is_file() or source_path.resolve() == path.resolve():
        raise ScenarioError(f"{name}: map_from {source!r} is not another scenario in {SCENARIO_DIR}")
    borrowed = _document(source_path)
    if borrowed.get("split", "train") != data.get("split", "train"):
        raise ScenarioError(f"{name}: map_from {source!r} is a {borrowed.get('split', 'train')} scenario; "
                            "a variant keeps its source's split")
    if "map" not in borrowed:
        raise ScenarioError(f"{name}: map_from {source!r} has no map of its own")
    return {**data, "map": borrowed["map"]}


def scenario_names(split: str | None = None) -> list[str]:
    """Sorted names of the scenarios in trainers/scenarios (of one split if given)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    names = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        if split is None or _document(path).get("split", "train") == split:
            names.append(path.stem)
    return sorted(names)
