"""The paired protocol of trainers/evaluate.py against a tiny fake arena with VecArena's attributes.

The fake: monsters 0 and 1 are "aggressive", monster 2 "tank"; monster 1 dies after tick 2. An encounter
lasts a seeded 3..8 ticks; each living monster adds to the pack's score per tick: ATTACK +0.02, the
traditional AI (255) +0.01, SKILL_1 +0.01 (as good as traditional), anything else 0. After its end an
arena keeps answering done with a bogus outcome, which evaluate must ignore. Reward: 1 per monster per
tick.
"""

import json

import numpy as np
import pytest

from aiworld.mobs.state import ARCHETYPES
from trainers.evaluate import compare, constant_policy, evaluate, should_promote

AGG, TANK = ARCHETYPES.index("aggressive"), ARCHETYPES.index("tank")
GAIN = {1: 0.02, 255: 0.01, 5: 0.01}


class FakeStep:
    def __init__(self, reward, done, outcome):
        self.reward, self.done, self.outcome = reward, done, outcome


class FakeArena:
    def __init__(self, num_arenas: int, seed: int, kinds=(AGG, AGG, TANK)):
        rng = np.random.default_rng(seed)
        self.E, self.M, self.P = num_arenas, len(kinds), 2
        self.archetype = np.tile(np.array(kinds, np.int8), (num_arenas, 1))
        self.alive = np.ones((num_arenas, self.M), bool)
        self.end = rng.integers(3, 9, num_arenas)
        self.base = rng.uniform(0.2, 1.2, num_arenas)
        self.bonus = np.zeros(num_arenas)
        self.t = 0
        self.actions_seen = []

    def observe(self):
        s = np.zeros((self.E, self.M, 64), np.float32)
        s[:, :, 0] = (self.t + 1) / 100
        s[:, :, 1] = np.arange(self.E)[:, None] / 1000
        s[:, :, 2] = np.arange(self.M)[None, :] / 10
        s[:, :, 3] = self.alive
        return s

    def step(self, actions):
        assert actions.shape == (self.E, self.M) and actions.dtype == np.int16
        self.actions_seen.append(actions.copy())
        running = self.t < self.end
        gain = np.vectorize(lambda a: GAIN.get(int(a), 0.0))(actions) * self.alive
        self.bonus += np.where(running, gain.sum(axis=1), 0.0)
        reward = np.where(running[:, None], 1.0, -50.0).astype(np.float32) * np.ones((1, self.M), np.float32)
        self.t += 1
        if self.t == 2:
            self.alive[:, 1] = False
        done = self.t >= self.end
        score = np.where(running, self.base + self.bonus, 99.0)  # bogus after the end
        outcome = {"score": score, "party_damage": score / 2, "pack_hp": score / 2,
                   "winner": np.where(score > 1, 1, -1), "steps": np.full(self.E, self.t),
                   "monsters_alive": self.alive.sum(1), "adventurers_alive": np.ones(self.E)}
        return FakeStep(reward, done, outcome)


class Factory:
    def __init__(self, kinds=None):
        self.calls = []
        self.kinds = kinds or {}

    def __call__(self, name, n, seed):
        self.calls.append((name, n, seed))
        return FakeArena(n, seed, self.kinds.get(name, (AGG, AGG, TANK)))


def run(policy, encounters=10, num_arenas=4, seed=3, scenarios=("a", "b"), factory=None, archetype="aggressive"):
    factory = factory or Factory()
    report = evaluate(policy, archetype, list(scenarios), encounters, seed, num_arenas=num_arenas,
                      progress=False, arena_factory=factory)
    return report, factory


def test_attack_wins_idle_loses_skill_ties():
    attack, _ = run(constant_policy(1))
    assert (attack.wins, attack.ties, attack.losses) == (10, 0, 0)
    assert attack.win_rate == 1.0 and attack.mean_score_ml > attack.mean_score_traditional
    idle, _ = run(constant_policy(0))
    assert (idle.wins, idle.losses) == (0, 10)
    skill, _ = run(constant_policy(5))
    assert (skill.wins, skill.ties, skill.losses) == (0, 10, 0)
    assert skill.mean_score_ml == pytest.approx(skill.mean_score_traditional)


def test_pairs_share_seeds_and_batches_split_evenly():
    report, factory = run(constant_policy(1), encounters=11, num_arenas=4)
    assert report.encounters == 11
    assert {k: v["encounters"] for k, v in report.per_scenario.items()} == {"a": 6, "b": 5}
    probes, built = factory.calls[:2], factory.calls[2:]  # one probe per scenario, then the batches
    assert [name for name, _, _ in probes] == ["a", "b"]
    assert len(built) == 2 * 4
    ml_side, other_side = built[0::2], built[1::2]
    assert ml_side == other_side  # each batch built twice from the same seed, once per side
    assert [(name, n) for name, n, _ in ml_side] == [("a", 4), ("a", 2), ("b", 4), ("b", 1)]
    assert len({seed for _, _, seed in ml_side}) == 4  # independent seeds per batch


def test_first_outcome_only_and_reward_per_monster():
    report, factory = run(constant_policy(1), encounters=8, num_arenas=8, scenarios=("a",))
    ends = FakeArena(8, factory.calls[-1][2]).end
    assert report.mean_score_ml < 10  # the bogus 99 after the end was ignored
    assert report.mean_steps_ml == pytest.approx(ends.mean())
    # one reward per tick per aggressive monster until the end; the -50 after the end is not counted
    assert report.mean_reward_ml == pytest.approx(ends.mean())
    assert report.mean_reward_traditional == pytest.approx(ends.mean())


def test_policy_sees_living_controlled_monsters_with_histories():
    calls = []

    def policy(states, histories):
        calls.append((states.copy(), histories.copy()))
        return np.full(len(states), 1)

    run(policy, encounters=3, num_arenas=3, scenarios=("a",))
    for t, (states, histories) in enumerate(calls):
        assert histories.shape == (len(states), 10, 64)
        assert np.array_equal(histories[:, -1], states)  # newest row is the current state
        assert np.allclose(states[:, 0], (t + 1) / 100)
        # monster 1 (aggressive) dies after tick 2; monster 2 is a tank: never asked
        assert set(np.round(states[:, 2] * 10).astype(int)) == ({0, 1} if t < 2 else {0})
        # oldest first, zero rows before the encounter start
        assert not histories[:, : 9 - t].any()
        assert np.allclose(histories[:, 9 - t:, 0], np.arange(1, t + 2) / 100)
    assert len(calls) >= 3


def test_tank_monster_keeps_traditional_ai_and_done_arenas_get_255():
    arenas = []

    def factory(name, n, seed):
        arenas.append(FakeArena(n, seed))
        return arenas[-1]

    run(constant_policy(0), encounters=4, num_arenas=4, scenarios=("a",), factory=factory)
    ml_arena = arenas[1]  # after the probe: the ML side, then the traditional side
    assert len(ml_arena.actions_seen) == ml_arena.end.max()  # stepped until the last arena ended
    for t, actions in enumerate(ml_arena.actions_seen):
        assert (actions[:, 2] == 255).all()  # the tank is not the evaluated archetype
        finished = t >= ml_arena.end
        assert (actions[finished] == 255).all()
        assert (actions[~finished, 0] == 0).all()
        assert (actions[:, 1][t >= 2] == 255).all()  # dead monsters are not asked either
    assert all((a == 255).all() for a in arenas[2].actions_seen)


def test_scenario_without_archetype_is_skipped():
    factory = Factory(kinds={"b": (TANK, TANK)})
    report, _ = run(constant_policy(1), encounters=10, factory=factory)
    assert report.scenarios == ["a"] and report.skipped_scenarios == ["b"]
    assert report.encounters == 10 and list(report.per_scenario) == ["a"]
    with pytest.raises(ValueError):
        run(constant_policy(1), scenarios=("b",), factory=factory)


def test_deterministic_and_json():
    a, _ = run(constant_policy(1), seed=7)
    b, _ = run(constant_policy(1), seed=7)
    c, _ = run(constant_policy(1), seed=8)
    da, db, dc = a.to_dict(), b.to_dict(), c.to_dict()
    for d in (da, db, dc):
        d.pop("seconds")
    assert da == db
    assert da["mean_score_ml"] != dc["mean_score_ml"]
    json.loads(json.dumps(a.to_dict(), allow_nan=False))


def test_outcome_rates_and_bad_policy_output():
    report, _ = run(constant_policy(1))
    for side in (report.outcomes_ml, report.outcomes_traditional):
        assert sum(side.values()) == pytest.approx(1.0) and set(side) == {"pack_win", "party_win", "timeout"}
    with pytest.raises(ValueError):
        run(lambda s, h: np.full(len(s), 12))
    with pytest.raises(ValueError):
        run(lambda s, h: np.zeros(len(s) + 1, int))
    with pytest.raises(ValueError):
        run(constant_policy(1), archetype="dragon")


def test_compare_and_promotion():
    result = compare(constant_policy(1), constant_policy(0), "aggressive", ["a"], 40, 0, num_arenas=16,
                     progress=False, arena_factory=Factory())
    assert result["opponent"] == "active"
    assert result["wins"] == 40 and "mean_score_candidate" in result and "mean_score_active" in result
    assert "mean_reward_candidate" in result["per_scenario"]["a"]
    assert should_promote(result)
    reverse = compare(constant_policy(0), constant_policy(1), "aggressive", ["a"], 40, 0, num_arenas=16,
                      progress=False, arena_factory=Factory())
    assert reverse["losses"] == 40 and not should_promote(reverse)
    same = compare(constant_policy(1), constant_policy(1), "aggressive", ["a"], 40, 0, num_arenas=16,
                   progress=False, arena_factory=Factory())
    assert same["ties"] == 40 and not should_promote(same)
