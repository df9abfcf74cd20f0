"""Level 4 rules act on the documented state indices."""

import numpy as np
import pytest

from aiworld.mobs import rules
from aiworld.mobs.state import ARCHETYPES, INDEX, STATE_SIZE, Action


def state(**values):
    s = np.zeros(STATE_SIZE, np.float32)
    s[INDEX["hp_ratio"]] = 1.0
    s[INDEX["sp_ratio"]] = 1.0
    s[INDEX["mode_can_move"]] = 1.0
    s[INDEX["ally_lowest_hp"]] = 1.0
    for name, value in values.items():
        s[INDEX[name]] = value
    return s


def act(archetype, **values):
    return int(rules.decide(state(**values)[None], np.array([ARCHETYPES.index(archetype)]))[0])


ENGAGED = {"has_target": 1, "enemy_count": 0.1, "target_distance": 0.5}


@pytest.mark.parametrize(("archetype", "values", "expected"), [
    ("aggressive", {}, Action.IDLE),
    ("aggressive", {"enemy_count": 0.2}, Action.CHANGE_TARGET),
    ("aggressive", ENGAGED, Action.MOVE_CLOSER),
    ("aggressive", {**ENGAGED, "mode_can_move": 0}, Action.IDLE),
    ("aggressive", {**ENGAGED, "target_in_range": 1}, Action.ATTACK),
    ("aggressive", {**ENGAGED, "target_in_range": 1, "skill1_ready": 1}, Action.SKILL_1),
    ("aggressive", {**ENGAGED, "target_in_range": 1, "skill1_ready": 1, "sp_ratio": 0.1}, Action.ATTACK),
    ("aggressive", {**ENGAGED, "hp_ratio": 0.1, "can_flee": 1}, Action.FLEE),
    ("aggressive", {**ENGAGED, "hp_ratio": 0.1, "can_flee": 0}, Action.MOVE_CLOSER),
    ("mage", {**ENGAGED, "target_distance": 0.1}, Action.MOVE_AWAY),
    ("aggressive", {**ENGAGED, "target_distance": 0.1}, Action.MOVE_CLOSER),
    ("support", {**ENGAGED, "ally_lowest_hp": 0.3, "skill2_ready": 1}, Action.SKILL_2),
    ("tank", {**ENGAGED, "target_in_range": 1, "threat": 0.8, "skill3_ready": 1}, Action.SKILL_3),
    ("tank", {**ENGAGED, "hp_ratio": 0.1, "can_flee": 1, "is_disabled": 1}, Action.IDLE),
    ("ranged", {**ENGAGED, "is_casting": 1}, Action.IDLE),
])
def test_rule(archetype, values, expected):
    assert act(archetype, **values) == expected


def test_vectorised_over_a_batch():
    states = np.stack([state(), state(**ENGAGED, target_in_range=1)])
    assert rules.decide(states, np.array([0, 0])).tolist() == [Action.IDLE, Action.ATTACK]
