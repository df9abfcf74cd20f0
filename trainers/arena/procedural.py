"""Generated train scenarios: random maps, packs and parties, so that RL members meet more than the seven
hand-made train layouts (a DQN trained 2.5x longer on those gained 15 points on them and none on the held-out
maps: docs/benchmarks.md). Generated scenarios are always split "train"; the held-out files stay untouched.

Map kinds (KINDS): "open" (the first generator: random wall and water blocks on a field, random small packs
and parties), and three with the structure of the places rAthena's monsters live in, with packs and parties
sized like the hand-made files': "tunnels" (rooms carved out of rock, joined by narrow corridors: a dungeon),
"gate" (a wall across the map pierced by one or two gates, some cover: a castle or a walled camp) and
"crossing" (a river or lake across the map, crossed by bridges or causeways; arrows fly over water). None of
them copies a layout: every room, wall, gate and bridge is drawn at random. Their balance is tuned as the hand-made
files' was (`balance`): by bisection until the traditional-AI pack wins about 45 % of encounters against the
party; a map still outside BALANCE_BAND is drawn again. What is tuned is the party's level, so that the
monsters' own stats (which a student sees) stay within the hand-made files' difficulty range. (Untuned, most
drawn maps are one-sided: of 11 generated tank maps, 7 were never won by the pack and 2 always.)

generate(archetype, count, seed, kinds) -> documents in the scenario file format (trainers/arena/scenario.py);
write(...) saves them as YAML so that anything taking scenario names takes their paths too.
"""

from __future__ import annotations

import json
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
KINDS = ("open", "tunnels", "gate", "crossing")
# the structured kinds: sizes, packs and parties in the ranges of the hand-made train files
S_WIDTH, S_HEIGHT = (28, 40), (16, 26)
S_PACK_SIZE, S_PARTY_SIZE = (3, 6), (2, 5)
S_DIFFICULTY = (0.6, 1.15)
ZONE = {"M": (4, 4), "A": (3, 4)}  # spawn zones (width, height) in cells
BALANCE_TARGET = 0.45  # the hand-made files' tuning: the traditional pack wins 45 % of encounters
BALANCE_BAND = (0.3, 0.6)  # a tuned map whose pack win rate ends outside this is drawn again
BALANCE_PARTY_LEVEL = (0.25, 4.0)  # the bisection's range
BALANCE_STEPS = 7


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


def _open_map(rng: np.random.Generator) -> str:
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


def _randint(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1], endpoint=True))


def _fill(rows: list[list[str]], r0: int, c0: int, h: int, w: int, symbol: str) -> None:
    height, width = len(rows), len(rows[0])
    for r in range(max(r0, 0), min(r0 + h, height)):
        for c in range(max(c0, 0), min(c0 + w, width)):
            rows[r][c] = symbol


def _tunnels(rng: np.random.Generator, width: int, height: int) -> tuple[list[list[str]], dict]:
    """Rock with 4 to 6 rooms from one end to the other, each joined to the next by an L-shaped corridor two
    or three cells wide; the pack spawns in the first room, the party in the last."""
    rows = [["#"] * width for _ in range(height)]
    n = _randint(rng, (4, 6))
    rooms = []
    for i in range(n):  # room i's left edge advances across the map, so the first and last are far apart
        w, h = _randint(rng, (6, 10)), _randint(rng, (5, 8))
        span = max(1, (width - w - 2) * i // (n - 1))
        c0 = min(max(1, span + int(rng.integers(-2, 3))), width - w - 1)
        r0 = int(rng.integers(1, height - h))
        _fill(rows, r0, c0, h, w, ".")
        rooms.append((r0, c0, h, w))
    for (ra, ca, ha, wa), (rb, cb, hb, wb) in zip(rooms, rooms[1:], strict=False):
        corridor = _randint(rng, (2, 3))
        (ya, xa), (yb, xb) = (ra + ha // 2, ca + wa // 2), (rb + hb // 2, cb + wb // 2)
        if rng.random() < 0.5:  # along then down, or down then along
            _fill(rows, ya, min(xa, xb), corridor, abs(xb - xa) + corridor, ".")
            _fill(rows, min(ya, yb), xb, abs(yb - ya) + corridor, corridor, ".")
        else:
            _fill(rows, min(ya, yb), xa, abs(yb - ya) + corridor, corridor, ".")
            _fill(rows, yb, min(xa, xb), corridor, abs(xb - xa) + corridor, ".")
    pack, party = (rooms[0], rooms[-1]) if rng.random() < 0.5 else (rooms[-1], rooms[0])
    zones = {}
    for mark, (r0, c0, h, w) in (("M", pack), ("A", party)):
        zw, zh = ZONE[mark]
        zones[mark] = (r0 + int(rng.integers(0, h - zh + 1)), c0 + int(rng.integers(0, w - zw + 1)))
    return rows, zones


def _gate(rng: np.random.Generator, width: int, height: int) -> tuple[list[list[str]], dict]:
    """A field cut in two by a wall (one or two cells thick) from its north edge to its south edge, pierced by one
    or two gates two to four cells wide; now and then a second, inner wall; a few blocks of cover."""
    rows = [["."] * width for _ in range(height)]
    walls = 1 if rng.random() < 0.7 else 2
    for k in range(walls):
        column = width // 2 + int(rng.integers(-3, 4)) + (k * int(rng.choice([-1, 1])) * _randint(rng, (4, 6)))
        _fill(rows, 0, column, height, _randint(rng, (1, 2)), "#")
        for _ in range(_randint(rng, (1, 2))):
            _fill(rows, int(rng.integers(1, height - 4)), column, _randint(rng, (2, 4)), 2, ".")
    for _ in range(_randint(rng, (0, 5))):
        _fill(rows, int(rng.integers(0, height)), int(rng.integers(0, width)), _randint(rng, (1, 3)),
              _randint(rng, (1, 3)), "#")
    return rows, _side_zones(rng, rows)


def _crossing(rng: np.random.Generator, width: int, height: int) -> tuple[list[list[str]], dict]:
    """Water three to seven cells wide across the map, winding a little, crossed by one to three bridges two to
    four cells wide; sometimes shores of water along the top and bottom (islands), and small ponds."""
    rows = [["."] * width for _ in range(height)]
    shore = _randint(rng, (2, 4)) if rng.random() < 0.4 else 0
    _fill(rows, 0, 0, shore, width, "~")
    _fill(rows, height - shore, 0, shore, width, "~")
    column, band = width // 2 + int(rng.integers(-3, 4)), _randint(rng, (3, 7))
    river = []
    for r in range(height):
        if rng.random() < 0.3:
            column += int(rng.choice([-1, 1]))
        column = min(max(column, band // 2 + 2), width - band + band // 2 - 2)
        river.append(column - band // 2)
        _fill(rows, r, river[-1], 1, band, "~")
    for _ in range(_randint(rng, (1, 3))):  # a bridge clears the river's cells of its rows, not the shores
        r0, h = int(rng.integers(shore, height - shore - 2)), _randint(rng, (2, 4))
        for r in range(r0, min(r0 + h, height - shore)):
            _fill(rows, r, river[r], 1, band, ".")
    for _ in range(_randint(rng, (0, 3))):
        _fill(rows, int(rng.integers(0, height)), int(rng.integers(0, width)), _randint(rng, (2, 3)),
              _randint(rng, (2, 4)), "~")
    return rows, _side_zones(rng, rows)


def _side_zones(rng: np.random.Generator, rows: list[list[str]]) -> dict:
    """Top-left cells of the spawn zones: the pack in one outer third of the map, the party in the other; a
    zone is drawn again (up to MAX_TRIES times) while it would cover wall or water."""
    height, width = len(rows), len(rows[0])
    left = bool(rng.integers(2))
    zones = {}
    for mark, (zw, zh) in ZONE.items():
        near = (mark == "M") == left
        for _ in range(MAX_TRIES):
            c0 = int(rng.integers(1, width // 3 - zw)) if near else int(rng.integers(2 * width // 3, width - zw))
            r0 = int(rng.integers(0, height - zh + 1))
            if all(rows[r][c] == "." for r in range(r0, r0 + zh) for c in range(c0, c0 + zw)):
                break
        zones[mark] = (r0, c0)
    return zones


_STRUCTURED = {"tunnels": _tunnels, "gate": _gate, "crossing": _crossing}


def _structured_map(kind: str, rng: np.random.Generator) -> str:
    for _ in range(MAX_TRIES):
        width, height = _randint(rng, S_WIDTH), _randint(rng, S_HEIGHT)
        rows, zones = _STRUCTURED[kind](rng, width, height)
        for mark, (r0, c0) in zones.items():  # spawn zones are cleared floor
            zw, zh = ZONE[mark]
            _fill(rows, r0, c0, zh, zw, mark)
        if _connected(rows, zones["M"], zones["A"]):
            return "\n".join("".join(row) for row in rows) + "\n"
    raise RuntimeError(f"no connected {kind} map in {MAX_TRIES} tries")


def _document(archetype: str, index: int, rng: np.random.Generator, kind: str = "open") -> dict:
    """One generated scenario (the YAML mapping) of a map kind: the pack holds at least one monster of the
    archetype."""
    open_kind = kind == "open"
    size = _randint(rng, PACK_SIZE if open_kind else S_PACK_SIZE)
    pack = [archetype] + [ARCHETYPES[int(i)] for i in rng.integers(0, len(ARCHETYPES), size - 1)]
    rng.shuffle(pack)
    party = []
    for _ in range(_randint(rng, PARTY_SIZE if open_kind else S_PARTY_SIZE)):
        cls = CLASSES[int(rng.integers(len(CLASSES)))]
        party.append({"class": cls, "patterns": _patterns(cls)})
    return {
        "name": f"procedural_{archetype}_{index:03d}" + ("" if open_kind else f"_{kind}"), "split": "train",
        "description": "generated (trainers/arena/procedural.py)" + ("" if open_kind else f", {kind} map"),
        "max_steps": 600,
        "difficulty": round(float(rng.uniform(*(DIFFICULTY if open_kind else S_DIFFICULTY))), 3),
        "party_level": round(float(rng.uniform(*PARTY_LEVEL)), 3),
        "map": _open_map(rng) if open_kind else _structured_map(kind, rng),
        "pack": {"leader": 0 if rng.random() < 0.7 else None, "members": [{"archetype": a} for a in pack]},
        "party": party,
    }


def pack_win_rate(document: dict, encounters: int, seed: int) -> float:
    """Share of `encounters` that the pack wins playing rAthena's traditional AI (action 255) against the party."""
    from trainers.arena import VecArena

    arena = VecArena(parse_scenario(document), encounters, seed=seed, auto_reset=False)
    won, done = np.zeros(encounters, bool), np.zeros(encounters, bool)
    actions = np.full(arena.archetype.shape, 255, np.int16)
    while not arena.finished.all():
        step = arena.step(actions)
        new = step.done & ~done
        won[new] = step.outcome["winner"][new] == 1
        done |= step.done
    return float(won.mean())


def balance(document: dict, encounters: int, seed: int) -> tuple[dict, float]:
    """The document with its party level bisected (log scale, BALANCE_STEPS steps, the same encounters at every
    step) towards a pack win rate of BALANCE_TARGET, and the win rate measured at that level."""
    low, high = np.log(BALANCE_PARTY_LEVEL[0]), np.log(BALANCE_PARTY_LEVEL[1])
    for _ in range(BALANCE_STEPS):  # a stronger party: the pack wins less
        middle = (low + high) / 2
        if pack_win_rate({**document, "party_level": float(np.exp(middle))}, encounters, seed) > BALANCE_TARGET:
            low = middle
        else:
            high = middle
    tuned = {**document, "party_level": round(float(np.exp((low + high) / 2)), 3)}
    return tuned, pack_win_rate(tuned, encounters, seed)


def _balanced(archetype: str, index: int, rng: np.random.Generator, kind: str, encounters: int) -> dict:
    """A structured document whose tuned party level gives a pack win rate inside BALANCE_BAND (drawn again
    until it does, at most MAX_TRIES times)."""
    for attempt in range(MAX_TRIES):
        document, rate = balance(_document(archetype, index, rng, kind), encounters, seed=index * MAX_TRIES + attempt)
        if BALANCE_BAND[0] <= rate <= BALANCE_BAND[1]:
            document["description"] += f"; party level tuned: the traditional pack won {rate:.0%} of {encounters}"
            return document
    raise RuntimeError(f"no {kind} map with a pack win rate in {BALANCE_BAND} in {MAX_TRIES} tries")


def check_kinds(kinds: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The map kinds as a tuple; ValueError names an unknown or missing one."""
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise ValueError(f"map kinds must be some of {', '.join(KINDS)}; got {', '.join(map(str, kinds)) or 'none'}")
    return kinds


def generate(archetype: str, count: int, seed: int, kinds: tuple[str, ...] = ("open",),
             balance_encounters: int = 0) -> list[dict]:
    """`count` scenario documents for an archetype, the same for the same seed; scenario i has map kind
    kinds[i % len(kinds)]; each is validated. balance_encounters > 0: the structured kinds' balance is tuned
    (`balance`: their party level) with that many encounters per bisection step (the open kind keeps its random
    difficulty and party level)."""
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}")
    kinds = check_kinds(kinds)
    rng = np.random.default_rng([seed, ARCHETYPES.index(archetype)])
    documents = [_balanced(archetype, i, rng, kinds[i % len(kinds)], balance_encounters)
                 if balance_encounters and kinds[i % len(kinds)] != "open"
                 else _document(archetype, i, rng, kinds[i % len(kinds)]) for i in range(count)]
    for document in documents:
        parse_scenario(document)  # raises ScenarioError on anything unplayable
    return documents


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the map) as literal blocks, as in the hand-made files."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def write(archetype: str, count: int, seed: int, folder: Path, kinds: tuple[str, ...] = ("open",),
          balance_encounters: int = 0) -> list[str]:
    """generate() saved as <folder>/<name>.yaml; returns the paths (usable wherever scenario names are). A folder
    whose manifest (generated.json) names the same arguments is reused as it is: the pipeline asks once per
    member, and tuning a map's balance takes seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "generated.json"
    asked = {"archetype": archetype, "count": count, "seed": seed, "kinds": list(kinds),
             "balance_encounters": balance_encounters}
    if manifest.exists():
        record = json.loads(manifest.read_text())
        if record.get("asked") == asked and all(Path(p).exists() for p in record["paths"]):
            return record["paths"]
    paths = []
    for document in generate(archetype, count, seed, kinds, balance_encounters):
        path = folder / f"{document['name']}.yaml"
        path.write_text(yaml.dump(document, Dumper=_Dumper, sort_keys=False))
        paths.append(str(path))
    manifest.write_text(json.dumps({"asked": asked, "paths": paths}, indent=1))
    return paths
