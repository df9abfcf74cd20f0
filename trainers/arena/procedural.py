"""Generated train scenarios: random maps, packs and parties, so that RL members meet more than the seven
hand-made train layouts (a DQN trained 2.5x longer on those gained 15 points on them and none on the held-out
maps: docs/benchmarks.md). Generated scenarios are always split "train"; the held-out files stay untouched.

generate(archetype, count, seed) -> documents in the scenario file format (trainers/arena/scenario.py);
write(...) saves them as YAML so that anything taking scenario names takes their paths too.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import yaml

from aiworld.mobs.state import ARCHETYPES
from trainers.arena.adventurers import PATTERN_CLASS
from trainers.arena.scenario import parse_scenario
from trainers.arena.units import CLASSES

WIDTH, HEIGHT = (20, 40), (14, 30)  # ranges of the map size, cells
PACK_SIZE, PARTY_SIZE = (2, 5), (1, 4)
DIFFICULTY, PARTY_LEVEL = (0.55, 1.15), (0.85, 1.15)
MAX_TRIES = 50  # maps whose spawn zones are not connected are drawn again


def _patterns(cls: str) -> list[str]:
    return [name for name, c in PATTERN_CLASS.items() if c == cls]


def _connected(rows: list[list[str]], start: tuple[int, int], goal: tuple[int, int]) -> bool:
    """Whether goal is reachable from start over walkable cells (water and walls block walking)."""
    height, width = len(rows), len(rows[0])
    seen, queue = {start}, deque([start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == goal:
            return True
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nr, nc = r + dr, c + dc
            if 0 <= nr < height and 0 <= nc < width and (nr, nc) not in seen and rows[nr][nc] not in "#~":
                seen.add((nr, nc))
                queue.append((nr, nc))
    return False


def _map(rng: np.random.Generator) -> str:
    for _ in range(MAX_TRIES):
        width, height = int(rng.integers(*WIDTH, endpoint=True)), int(rng.integers(*HEIGHT, endpoint=True))
        rows = [["."] * width for _ in range(height)]
        for symbol, count, size in (("#", rng.integers(0, 9), (2, 8)), ("~", rng.integers(0, 4), (2, 6))):
            for _ in range(int(count)):
                w, h = (int(v) for v in rng.integers(*size, size=2, endpoint=True))
                r0, c0 = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
                for r in range(r0, r0 + h):
                    rows[r][c0:c0 + w] = [symbol] * w
        # the pack on one side, the party on the other (which side, drawn); spawn zones are cleared floor
        left = bool(rng.integers(2))
        zones = {}
        for mark, (zw, zh) in (("M", (4, 4)), ("A", (3, 4))):
            near = (mark == "M") == left
            c0 = int(rng.integers(1, width // 3 - zw)) if near else int(rng.integers(2 * width // 3, width - zw))
            r0 = int(rng.integers(0, height - zh + 1))
            for r in range(r0, r0 + zh):
                rows[r][c0:c0 + zw] = [mark] * zw
            zones[mark] = (r0, c0)
        if _connected(rows, zones["M"], zones["A"]):
            return "\n".join("".join(row) for row in rows) + "\n"
    raise RuntimeError(f"no connected map in {MAX_TRIES} tries")


def _document(archetype: str, index: int, rng: np.random.Generator) -> dict:
    """One generated scenario (the YAML mapping): the pack holds at least one monster of the archetype."""
    size = int(rng.integers(*PACK_SIZE, endpoint=True))
    pack = [archetype] + [ARCHETYPES[int(i)] for i in rng.integers(0, len(ARCHETYPES), size - 1)]
    rng.shuffle(pack)
    party = []
    for _ in range(int(rng.integers(*PARTY_SIZE, endpoint=True))):
        cls = CLASSES[int(rng.integers(len(CLASSES)))]
        party.append({"class": cls, "patterns": _patterns(cls)})
    return {
        "name": f"procedural_{archetype}_{index:03d}", "split": "train",
        "description": "generated (trainers/arena/procedural.py)", "max_steps": 600,
        "difficulty": round(float(rng.uniform(*DIFFICULTY)), 3),
        "party_level": round(float(rng.uniform(*PARTY_LEVEL)), 3),
        "map": _map(rng),
        "pack": {"leader": 0 if rng.random() < 0.7 else None, "members": [{"archetype": a} for a in pack]},
        "party": party,
    }


def generate(archetype: str, count: int, seed: int) -> list[dict]:
    """`count` scenario documents for an archetype, the same for the same seed; each is validated."""
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}")
    rng = np.random.default_rng([seed, ARCHETYPES.index(archetype)])
    documents = [_document(archetype, i, rng) for i in range(count)]
    for document in documents:
        parse_scenario(document)  # raises ScenarioError on anything unplayable
    return documents


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the map) as literal blocks, as in the hand-made files."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def write(archetype: str, count: int, seed: int, folder: Path) -> list[str]:
    """generate() saved as <folder>/<name>.yaml; returns the paths (usable wherever scenario names are)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for document in generate(archetype, count, seed):
        path = folder / f"{document['name']}.yaml"
        path.write_text(yaml.dump(document, Dumper=_Dumper, sort_keys=False))
        paths.append(str(path))
    return paths
