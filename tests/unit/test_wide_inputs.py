"""The wider-state experiment (bench/wide_inputs.py) and the hooks it needs: an arena whose observe() returns more
than the 64 values is recorded by the lookahead collection and played by the evaluation at its own width."""

import json
import sys
from pathlib import Path

import numpy as np

from bench.wide_inputs import (
    EXTRA_NAMES,
    MAP_EXTRA_NAMES,
    MAP_SIZE,
    WIDE_SIZE,
    WideArena,
    extras,
    main,
    map_extras,
    map_factory,
    wide_factory,
)
from trainers import lookahead
from trainers.arena import VecArena, load_scenario
from trainers.evaluate import evaluate

TRADITIONAL = np.int16(255)


def _pair(seed: int = 3):
    return wide_factory("crossroads", 4, seed), VecArena(load_scenario("crossroads"), 4, seed=seed, auto_reset=False)


def test_the_wide_state_starts_with_the_64_values_and_every_extra_lies_in_0_1():
    wide, plain = _pair()
    seen = []
    for _ in range(40):
        w, p = wide.observe(), plain.observe()
        assert w.shape == p.shape[:2] + (WIDE_SIZE,) and WIDE_SIZE == 64 + len(EXTRA_NAMES)
        assert np.array_equal(w[..., :64], p)
        seen.append(w[..., 64:])
        act = np.full(wide.archetype.shape, TRADITIONAL)
        wide.step(act)
        plain.step(act)
    seen = np.stack(seen)
    assert seen.min() >= 0 and seen.max() <= 1
    assert (seen.std(axis=(0, 1, 2)) > 0).sum() >= len(EXTRA_NAMES) // 2  # most extras move during a fight


def test_the_nearest_enemy_slot_names_the_units_the_arena_has():
    wide, _ = _pair(5)
    for _ in range(30):
        wide.step(np.full(wide.archetype.shape, TRADITIONAL))
    x = extras(wide)
    checked = 0
    for e in range(wide.E):
        for m in range(wide.M):
            nearest = int(wide.enemy_dist[e, m].argmin())
            got = x[e, m, :10]
            if wide.enemy_dist[e, m, nearest] > 14:
                assert not got.any()  # nobody in view: the slot is empty
                continue
            assert nearest >= wide.M and got[0] == 1
            assert np.isclose(got[3], wide.hp[e, nearest] / wide.max_hp[nearest])
            assert got[9] == (wide.target[e, nearest] == m)
            assert np.isclose(got[1], np.clip(0.5 + (wide.x[e, nearest] - wide.x[e, m]) / 28, 0, 1))
            checked += 1
    assert checked > 0


def test_collect_records_wide_histories_whose_first_64_columns_are_the_plain_ones():
    settings = lookahead.LookaheadArgs(arenas=2, horizon=10, epsilon=0.5, seed=4)
    plain = lookahead.collect("tank", ["crossroads"], batches=1, args=settings, progress=False)
    wide = lookahead.collect("tank", ["crossroads"], batches=1, args=settings, progress=False, arena_class=WideArena)
    assert wide["histories"].shape == plain["histories"].shape[:2] + (WIDE_SIZE,)
    assert np.array_equal(wide["histories"][..., :64], plain["histories"])
    assert all(np.array_equal(wide[k], plain[k]) for k in plain if k != "histories")


def test_evaluate_hands_a_policy_histories_at_the_arena_s_width():
    widths = set()

    def policy(states: np.ndarray, histories: np.ndarray) -> np.ndarray:
        widths.add((states.shape[-1], histories.shape[-1]))
        return np.full(len(states), 255)

    report = evaluate(policy, "tank", ["crossroads"], encounters=4, seed=1, num_arenas=4, progress=False,
                      arena_factory=wide_factory)
    assert widths == {(WIDE_SIZE, WIDE_SIZE)}
    assert report.wins == 0  # the traditional AI against itself


def test_compare_pairs_two_data_by_network_and_training_seed(tmp_path, capsys, monkeypatch):
    def row(model, seed, width, win):
        return {"model": model, "seed": seed, "width": width, "metrics": {"val_loss": 3.0},
                "heldout": {"win_rate": win, "wilson": [win - 0.03, win + 0.03]}, "train": {"win_rate": 0.7}}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"rows": [row("mlp", 1, 64, 0.60), row("mlp", 2, 64, 0.70), row("mlp", 1, 101, 0.9)]}))
    b.write_text(json.dumps({"rows": [row("mlp", 2, 64, 0.65), row("mlp", 1, 64, 0.66), row("mlp", 3, 64, 0.5)]}))
    monkeypatch.setattr(sys, "argv", ["wide_inputs.py", "compare", "--a", str(a), "--b", str(b),
                                      "--labels", "knows", "blind"])
    assert main() == 0
    out = capsys.readouterr().out
    # seed 1: +6.0, seed 2: -5.0; seed 3 has no partner; the 101-value row is another width
    assert "mlp, blind minus knows, held out, by seed: +6.0, -5.0 (mean +0.5, 1/2 higher)" in out
    assert "mlp, knows: 2 trainings, held-out mean 65.0%" in out
    assert "90.0%" not in out


def test_collect_on_generated_maps_draws_other_maps_for_every_chunk(tmp_path, monkeypatch):
    """--procedural N --only-procedural: each chunk's teacher plays N maps of its own (seed and chunk), of the
    kinds asked; without --only-procedural the hand-made train scenarios come first."""
    played = []

    def fake_collect(archetype, scenarios, batches, settings, arena_class=None):  # the search is measured elsewhere
        played.append(list(scenarios))
        return {k: np.zeros((1, 10, WIDE_SIZE) if k == "histories" else 1) for k in ("histories", "actions")}

    monkeypatch.setattr(lookahead, "collect", fake_collect)
    common = ["wide_inputs.py", "collect", "--archetype", "tank", "--batches", "2", "--chunks", "2",
              "--procedural", "2", "--procedural-kinds", "gate", "crossing", "--balance", "0"]
    monkeypatch.setattr(sys, "argv", [*common, "--only-procedural", "--out", str(tmp_path / "only")])
    assert main() == 0
    (first, second) = played
    assert [Path(p).name for p in first] == ["procedural_tank_000_gate.yaml", "procedural_tank_001_crossing.yaml"]
    assert [Path(p).read_text() for p in first] != [Path(p).read_text() for p in second]  # other maps next chunk
    monkeypatch.setattr(sys, "argv", [*common, "--seed", "2", "--out", str(tmp_path / "both")])
    played.clear()
    assert main() == 0
    assert "crossroads" in played[0] and played[0][-1].endswith("procedural_tank_001_crossing.yaml")


def _walks(mp, start: int) -> dict[int, int]:
    """Walking steps from start to every cell it can reach, by breadth-first search over the map's legal steps."""
    steps, frontier = {start: 0}, [start]
    while frontier:
        following = []
        for c in frontier:
            for d in range(8):
                n = int(mp.neighbour[c, d])
                if mp.allowed[c, d] and n not in steps:
                    steps[n] = steps[c] + 1
                    following.append(n)
        frontier = following
    return steps


def test_the_map_extras_follow_the_map_cell_by_cell():
    """--extras map: the 64 values come first; each extra recomputed here from the grid, one monster at a time."""
    arena = map_factory("cave", 3, 7)
    plain = VecArena(load_scenario("cave"), 3, seed=7, auto_reset=False)
    for _ in range(300):  # until the fight has begun: some monster has a target
        assert np.array_equal(arena.observe()[..., :64], plain.observe())
        if ((arena.target[:, :arena.M] >= 0) & arena.alive_u[:, :arena.M]).sum() >= 3:
            break
        act = np.full(arena.archetype.shape, TRADITIONAL)
        arena.step(act)
        plain.step(act)
    x = map_extras(arena)
    assert arena.observe().shape[-1] == MAP_SIZE == 64 + len(MAP_EXTRA_NAMES) and x.min() >= 0 and x.max() <= 1
    mp, checked = arena.map, 0
    for e in range(arena.E):
        for m in range(arena.M):
            here = int(arena.cell[e, m])
            walk = _walks(mp, here)
            for d in range(8):  # straight legal steps in direction d, up to 14
                run, c = 0, here
                while run < 14 and mp.allowed[c, d]:
                    run, c = run + 1, int(mp.neighbour[c, d])
                assert np.isclose(x[e, m, d], run / 14)
            t = int(arena.target[e, m])
            if t >= 0 and arena.alive_u[e, m]:
                steps = walk.get(int(arena.cell[e, t]))
                straight = max(abs(arena.x[e, t] - arena.x[e, m]), abs(arena.y[e, t] - arena.y[e, m]))
                assert np.isclose(x[e, m, 11], min(steps / 14, 1) if steps is not None else 1)
                assert np.isclose(x[e, m, 12], min((steps - straight) / 14, 1) if steps is not None else 1)
                checked += 1
            hx, hy = int(arena.x[e, m]), int(arena.y[e, m])
            box = [mp.walkable_at(np.array(hx + i), np.array(hy + j)) for i in range(-7, 8) for j in range(-7, 8)]
            assert np.isclose(x[e, m, 8], sum(box) / 225)
            assert np.isclose(x[e, m, 9], sum(k <= 3 for k in walk.values()) / 49)
            assert np.isclose(x[e, m, 10], sum(k <= 7 for k in walk.values()) / 225)
            depth, c, n = 0, here, int(arena.nearest[e, m])
            while arena.nearest_dist[e, m] <= 14 and depth < 7 and mp.away[arena.cell[e, n], c] >= 0:
                depth, c = depth + 1, int(mp.neighbour[c, mp.away[arena.cell[e, n], c]])
            assert np.isclose(x[e, m, 15], depth / 7 if arena.nearest_dist[e, m] <= 14 else 1)
            walks = [walk[c] for u in range(arena.M, arena.U) if arena.alive_u[e, u]
                     and (c := int(arena.cell[e, u])) in walk]
            assert np.isclose(x[e, m, 13], min(min(walks, default=14) / 14, 1))
            assert np.isclose(x[e, m, 14], sum(w <= 7 for w in walks) / 10)
    assert checked > 0


def test_plot_joins_the_files_of_one_archetype_network_and_extras_into_one_panel(tmp_path):
    from bench.wide_inputs import _panels

    def result(archetype, extras, variant, seed):
        return {"archetype": archetype, "extras_set": extras,
                "rows": [{"model": "mlp", "variant": variant, "width": 64 if variant == "64 values" else 80,
                          "seed": seed}]}

    files = []
    for i, r in enumerate([result("tank", "map", "64 values", 1), result("tank", "map", "wide", 1),
                           result("defensive", "map", "wide", 1), result("tank", "enemies", "wide", 1)]):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(r))
    panels = _panels(files)
    assert [(p["archetype"], p["extras_set"], [r["variant"] for r in p["rows"]]) for p in panels] == [
        ("tank", "map", ["64 values", "wide"]), ("defensive", "map", ["wide"]), ("tank", "enemies", ["wide"])]


def test_the_privileged_state_names_every_unit_in_its_slot_and_the_party_s_patterns():
    from bench.wide_inputs import PRIVILEGED_NAMES, PRIVILEGED_SIZE, SLOTS, PrivilegedArena, privileged_extras
    from trainers.arena.adventurers import PATTERNS

    arena = PrivilegedArena.make("open_field_bulwark", 3, 5)
    plain = VecArena(load_scenario("open_field_bulwark"), 3, seed=5, auto_reset=False)
    for _ in range(30):
        assert np.array_equal(arena.observe()[..., :64], plain.observe())
        act = np.full(arena.archetype.shape, TRADITIONAL)
        arena.step(act)
        plain.step(act)
    x = privileged_extras(arena)
    assert x.shape == (3, arena.M, PRIVILEGED_SIZE - 64) and x.min() >= 0 and x.max() <= 1
    names = {n: i for i, n in enumerate(PRIVILEGED_NAMES)}
    m, e = 2, 1
    others = [u for u in range(arena.M) if u != m]  # its own slot is skipped
    for j, u in enumerate(others):
        assert x[e, m, names[f"ally{j + 1}_present"]] == arena.alive_u[e, u]
        if arena.alive_u[e, u]:
            assert np.isclose(x[e, m, names[f"ally{j + 1}_hp"]], arena.hp[e, u] / arena.max_hp[u])
            assert x[e, m, names[f"ally{j + 1}_archetype_{arena.kind[u]}"]] == 1
    assert len(others) < SLOTS and not x[e, m, names[f"ally{len(others) + 1}_present"]]  # an empty slot stays 0
    for j in range(arena.P):
        u = arena.M + j
        if not arena.alive_u[e, u]:
            continue
        pattern = PATTERNS[arena.pattern[e, j]].name
        assert x[e, m, names[f"adventurer{j + 1}_pattern_{pattern}"]] == 1
        assert sum(x[e, m, names[f"adventurer{j + 1}_pattern_{p.name}"]] for p in PATTERNS) == 1
        assert x[e, m, names[f"adventurer{j + 1}_targets_me"]] == (arena.target[e, u] == m)
        assert np.isclose(x[e, m, names[f"adventurer{j + 1}_dx"]],
                          np.clip(0.5 + (arena.x[e, u] - arena.x[e, m]) / 56, 0, 1))


def test_curve_draws_the_rows_played_every_tick(tmp_path):
    def row(width, decisions, win, hold=1):
        return {"width": width, "decisions": decisions, "hold": hold, "heldout": {"win_rate": win},
                "train": {"win_rate": win}}

    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"rows": [row(64, 100, 0.6), row(64, 200, 0.7), row(300, 100, 0.5),
                                         row(64, 100, 0.9, hold=5)]}))
    out = tmp_path / "curve.png"
    sys.argv = ["wide_inputs.py", "curve", str(path), "--shipped", "0.73", "--teacher", "0.87", "--out", str(out)]
    assert main() == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
