"""trainers/evaluate.py on the real arena (Part A): exact pairing, determinism, a bad policy loses."""

import numpy as np
import onnx
import pytest

from aiworld.mobs.onnx_export import random_mlp
from trainers.evaluate import constant_policy, evaluate, onnx_policy

arena = pytest.importorskip("trainers.arena")


def _train_scenario_with(archetype: str) -> str:
    names = arena.scenario_names(split="train")
    names = sorted(names, key=lambda n: n != "open_field")  # the classic first, when it exists
    for name in names:
        if archetype in [m.archetype for m in arena.load_scenario(name).members]:
            return name
    pytest.skip(f"no train scenario holds a {archetype} monster")


@pytest.fixture(scope="module")
def scenario() -> str:
    return _train_scenario_with("aggressive")


def _bare(report) -> dict:
    d = report.to_dict()
    d.pop("seconds")
    return d


def test_both_sides_start_identical(scenario):
    starts = []

    def factory(name, n, seed):
        a = arena.VecArena(arena.load_scenario(name), n, seed=seed, auto_reset=False)
        starts.append((seed, a.observe()))
        return a

    evaluate(constant_policy(1), "aggressive", [scenario], 6, seed=11, num_arenas=4, progress=False,
             arena_factory=factory)
    batches = starts[1:]  # after the probe: (ML side, traditional side) per batch
    assert len(batches) == 4
    for (seed_a, a), (seed_b, b) in zip(batches[0::2], batches[1::2], strict=True):
        assert seed_a == seed_b and np.array_equal(a, b)
    assert not np.array_equal(batches[0][1][:2], batches[2][1][:2])  # the batches differ


def test_same_seed_same_report(scenario):
    a = evaluate(constant_policy(1), "aggressive", [scenario], 8, seed=3, num_arenas=8, progress=False)
    b = evaluate(constant_policy(1), "aggressive", [scenario], 8, seed=3, num_arenas=8, progress=False)
    assert _bare(a) == _bare(b)
    assert a.encounters == 8 and a.wins + a.ties + a.losses == 8
    for side in (a.outcomes_ml, a.outcomes_traditional):
        assert sum(side.values()) == pytest.approx(1.0)
    assert 0 <= a.mean_party_damage_traditional <= 1 and 0 <= a.mean_pack_hp_traditional <= 1
    assert a.mean_score_traditional == pytest.approx(a.mean_party_damage_traditional + a.mean_pack_hp_traditional,
                                                     abs=1e-5)


def test_idle_pack_loses_against_traditional(scenario):
    report = evaluate(constant_policy(0), "aggressive", [scenario], 32, seed=0, num_arenas=16, progress=False)
    assert report.losses >= 24, report.to_dict()
    assert report.wilson_high < 0.5
    assert report.mean_score_ml < report.mean_score_traditional


def test_temporal_onnx_policy_on_the_arena(scenario, tmp_path):
    path = tmp_path / "temporal.onnx"
    onnx.save(random_mlp(0, temporal=True), path)
    report = evaluate(onnx_policy(path), "aggressive", [scenario], 4, seed=1, num_arenas=4, progress=False)
    assert report.encounters == 4 and np.isfinite(report.mean_reward_ml)


def test_archetype_missing_everywhere_raises(scenario):
    members = {m.archetype for m in arena.load_scenario(scenario).members}
    missing = next((a for a in ("mage", "defensive", "support", "tank", "ranged") if a not in members), None)
    if missing is None:
        pytest.skip(f"{scenario} holds every archetype")
    with pytest.raises(ValueError):
        evaluate(constant_policy(1), missing, [scenario], 4, seed=0, num_arenas=4, progress=False)


def test_a_held_decision_is_asked_every_hold_ticks_and_kept_in_between(scenario):
    from aiworld.mobs.state import ARCHETYPES

    aggressive = ARCHETYPES.index("aggressive")
    calls: list[int] = []
    played: list[list[tuple[np.ndarray, np.ndarray]]] = []  # per arena made: (actions, acting) per tick

    def policy(states, histories):
        calls.append(len(states))
        return np.full(len(states), len(calls) % 10, np.int64)  # another action at each decision

    def factory(name, n, seed):
        a = arena.VecArena(arena.load_scenario(name), n, seed=seed, auto_reset=False)
        ticks: list[tuple[np.ndarray, np.ndarray]] = []
        played.append(ticks)
        step = a.step

        def recording(actions):
            ticks.append((actions.copy(), (a.archetype == aggressive) & a.alive & ~a.finished[:, None]))
            return step(actions)

        a.step = recording
        return a

    evaluate(policy, "aggressive", [scenario], 2, seed=5, num_arenas=2, progress=False, arena_factory=factory,
             hold=3)
    ml = played[1]  # played[0] is the probe, played[2] the traditional side
    assert len(calls) == sum(1 for t, (_, acting) in enumerate(ml) if t % 3 == 0 and acting.any())
    assert len(calls) > 2
    for t, (actions, acting) in enumerate(ml):
        decided = ml[t - t % 3][0]
        assert np.array_equal(actions[acting], decided[acting]), t  # kept until the next decision
        assert (actions[~acting] == 255).all()
    assert (np.stack([a for a, _ in played[2]]) == 255).all()
    with pytest.raises(ValueError, match="hold"):
        evaluate(policy, "aggressive", [scenario], 2, seed=5, num_arenas=2, progress=False, hold=0)
