"""bench/teacher_vs_student.py: the search on a student's states must not change the student's game, and the
regrets are measured on the values they claim to be measured on; bench/lookahead_teacher.py's play with a
continuation policy."""

import numpy as np
import pytest

from aiworld.mobs.state import MODEL_OUTPUTS, TRADITIONAL_OUTPUT, Action
from bench.teacher_vs_student import OUTPUT_NAMES, decision_summary, student_side, versus_traditional
from trainers import lookahead
from trainers.evaluate import constant_policy


def test_searching_the_students_states_leaves_its_game_as_it_was():
    settings = lookahead.LookaheadArgs(horizon=5, continuations=1)
    policy = constant_policy(2)  # move closer: the fight starts soon
    plain, nothing = student_side("crossroads", "tank", 2, 11, policy, None)
    searched, record = student_side("crossroads", "tank", 2, 11, policy, settings)
    assert np.array_equal(plain, searched)
    assert len(nothing["student"]) == 0
    n = len(record["student"])
    assert n > 0 and record["a"].shape == record["b"].shape == (n, MODEL_OUTPUTS)
    assert (record["student"] == 2).all()
    assert not np.array_equal(record["a"], record["b"])  # independent dice


def test_regret_in_sample_uses_the_values_that_picked_and_cross_validated_the_others():
    a = np.zeros((2, MODEL_OUTPUTS), np.float32)
    b = np.zeros((2, MODEL_OUTPUTS), np.float32)
    a[0, 3], a[1, 1] = 0.5, 0.2  # A picks 3 and 1
    b[0, 3], b[0, 5] = 0.1, 0.3  # B: the pick of row 0 is worse than the student's 5
    b[1, 1] = 0.4
    student = np.array([5, 1])
    summary = decision_summary(student, a, b)
    assert summary["agreement"] == pytest.approx(0.5)
    assert summary["teacher_self_agreement"] == pytest.approx(0.5)  # B's best: 5 and 1
    assert summary["regret_in_sample"][0] == pytest.approx((0.5 - 0.0 + 0.0) / 2)
    assert summary["regret_cross_validated"][0] == pytest.approx((0.1 - 0.3 + 0.0) / 2)
    assert summary["gain_over_traditional_teacher"][0] == pytest.approx((0.1 + 0.4) / 2)
    assert summary["gain_over_traditional_student"][0] == pytest.approx((0.3 + 0.4) / 2)
    assert summary["student_outputs"]["skill_1"] == pytest.approx(0.5)
    assert summary["teacher_outputs_on_student_states"]["move_away"] == pytest.approx(0.5)


def test_output_names_follow_the_action_ids():
    assert OUTPUT_NAMES[:TRADITIONAL_OUTPUT] == tuple(Action(i).name.lower() for i in range(TRADITIONAL_OUTPUT))
    assert len(OUTPUT_NAMES) == MODEL_OUTPUTS


def test_a_teacher_without_a_better_candidate_keeps_the_traditional_ai():
    a = np.full((1, MODEL_OUTPUTS), 0.3, np.float32)
    summary = decision_summary(np.array([TRADITIONAL_OUTPUT]), a, a.copy())
    assert summary["agreement"] == 1.0 and summary["regret_cross_validated"][0] == 0.0


def test_outcomes_against_the_traditional_pack_count_ties_within_the_margin():
    result = versus_traditional(np.array([0.5, 0.005, -0.2, 0.02]))
    assert (result["wins"], result["ties"], result["losses"]) == (2, 1, 1)
    assert result["win_rate"] == 0.5 and result["wilson_low"] < 0.5 < result["wilson_high"]


def test_the_teacher_with_a_continuation_that_hands_back_plays_as_the_plain_teacher():
    from bench.lookahead_teacher import play

    settings = lookahead.LookaheadArgs(horizon=10, continuations=1)
    plain = play("crossroads", "tank", 2, 5, settings)
    handing_back = play("crossroads", "tank", 2, 5, settings,
                        lambda states, histories: np.full(len(states), int(Action.TRADITIONAL_AI)))
    assert np.array_equal(plain, handing_back)  # the working memory and the copies' observations draw no dice
    retreating = play("crossroads", "tank", 2, 5, settings, constant_policy(int(Action.MOVE_AWAY)))
    assert not np.array_equal(plain, retreating)


def test_compare_plays_teacher_and_student_on_the_traditional_packs_encounters():
    from bench.lookahead_teacher import compare

    settings = lookahead.LookaheadArgs(horizon=5, continuations=1)
    def handing_over(states, histories):  # the traditional pack itself, as a student
        return np.full(len(states), int(Action.TRADITIONAL_AI))

    result = compare("tank", ["crossroads", "graveyard"], 2, 7, settings, student=handing_over)
    assert result["student"]["ties"] == result["student"]["encounters"] == 4  # the same encounters, pair for pair
    assert set(result["per_scenario"]) == {"crossroads", "graveyard"}
    assert result["encounters"] == 4 and result["per_scenario"]["graveyard"]["student"]["ties"] == 2
    retreating = compare("tank", ["crossroads"], 2, 7, settings, student=constant_policy(int(Action.MOVE_AWAY)))
    assert retreating["student"]["ties"] < 2
