"""The scenario files: splits, coverage of the archetypes, sizes, and the loader's checks."""

from __future__ import annotations

from collections import Counter

import pytest

from aiworld.mobs.state import ARCHETYPES
from trainers.arena import ScenarioError, load_scenario, scenario_names
from trainers.arena.scenario import parse_scenario


def test_splits_and_names():
    train, heldout = scenario_names("train"), scenario_names("heldout")
    assert len(train) >= 6 and len(heldout) >= 4
    assert train == sorted(train) and not set(train) & set(heldout)
    assert sorted(train + heldout) == scenario_names()
    for name in train + heldout:
        assert load_scenario(name).split == ("train" if name in train else "heldout")


def test_every_archetype_in_two_train_and_two_heldout_scenarios():
    for split in ("train", "heldout"):
        seen = Counter(a for name in scenario_names(split) for a in set(load_scenario(name).archetypes))
        assert all(seen[a] >= 2 for a in ARCHETYPES), (split, seen)


def test_sizes_and_variety():
    train = [load_scenario(n) for n in scenario_names("train")]
    heldout = [load_scenario(n) for n in scenario_names("heldout")]
    for sc in train + heldout:
        assert 3 <= len(sc.members) <= 6 and 2 <= len(sc.party) <= 5
        assert sc.max_steps >= 300 and sc.difficulty > 0
    train_maps = {sc.grid.tobytes() for sc in train}
    assert not any(sc.grid.tobytes() in train_maps for sc in heldout)  # held-out maps are new
    train_parties = {tuple((a.cls, a.patterns) for a in sc.party) for sc in train}
    assert not any(tuple((a.cls, a.patterns) for a in sc.party) in train_parties for sc in heldout)


def test_loader_rejects_broken_scenarios():
    good = {"name": "x", "map": "M..A", "pack": {"leader": 0, "members": [{"archetype": "tank"}]},
            "party": [{"class": "melee", "patterns": ["melee_nearest"]}]}
    parse_scenario(good)
    for broken in (
        {**good, "split": "test"},
        {**good, "map": "...."},
        {**good, "map": "M.\nA"},
        {**good, "pack": {"members": [{"archetype": "dragon"}]}},
        {**good, "pack": {"leader": 3, "members": [{"archetype": "tank"}]}},
        {**good, "party": [{"class": "melee", "patterns": ["mage_nuker"]}]},
        {**good, "party": [{"class": "bard", "patterns": ["melee_nearest"]}]},
    ):
        with pytest.raises(ScenarioError):
            parse_scenario(broken)
    with pytest.raises(FileNotFoundError):
        load_scenario("no_such_scenario")


def test_a_variant_borrows_its_source_map_and_split(tmp_path, monkeypatch):
    variant = load_scenario("canyon_pass_casters")
    source = load_scenario("canyon_pass")
    assert variant.split == source.split == "train"
    assert variant.grid.tobytes() == source.grid.tobytes()
    assert (variant.monster_cells == source.monster_cells).all() and "mage" in variant.archetypes

    import trainers.arena.scenario as scenario_module

    monkeypatch.setattr(scenario_module, "SCENARIO_DIR", tmp_path)
    (tmp_path / "held.yaml").write_text("split: heldout\nmap: M..A\n")
    body = "pack: {members: [{archetype: tank}]}\nparty: [{class: melee, patterns: [melee_nearest]}]\n"
    cases = {"leak": "split: train\nmap_from: held\n",  # a train variant of a held-out map
             "both": "split: heldout\nmap_from: held\nmap: M..A\n",
             "missing": "map_from: nowhere\n",
             "itself": "map_from: itself\n"}
    for name, head in cases.items():
        (tmp_path / f"{name}.yaml").write_text(head + body)
        with pytest.raises(ScenarioError, match="map_from|map or"):
            load_scenario(tmp_path / f"{name}.yaml")
    (tmp_path / "twin.yaml").write_text("split: heldout\nmap_from: held\n" + body)
    assert load_scenario(tmp_path / "twin.yaml").split == "heldout"
