"""Wilson interval and the promotion rule of trainers/evaluate.py."""

import math

import pytest

from trainers.evaluate import EvalReport, should_promote, wilson_interval


@pytest.mark.parametrize(("wins", "n", "low", "high"), [
    (80, 100, 0.7112, 0.8666),
    (5, 10, 0.2366, 0.7634),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (1, 1, 0.2065, 1.0),
])
def test_wilson_known_values(wins, n, low, high):
    lo, hi = wilson_interval(wins, n)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


def test_wilson_no_data_and_properties():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(30, 60)
    assert lo < 0.5 < hi and math.isclose(0.5 - lo, hi - 0.5)  # symmetric at p = 1/2
    narrow = wilson_interval(300, 600)
    assert narrow[1] - narrow[0] < hi - lo  # more data, tighter interval
    wide = wilson_interval(30, 60, z=2.576)
    assert wide[0] < lo and wide[1] > hi
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def _compare_dict(wins: int, n: int) -> dict:
    low, high = wilson_interval(wins, n)
    return {"encounters": n, "wins": wins, "win_rate": wins / n if n else float("nan"),
            "wilson_low": low, "wilson_high": high}


def test_should_promote_rule():
    assert should_promote(None)  # no active model: anything goes in
    assert should_promote(_compare_dict(70, 100))  # 0.70, lower bound ~0.60
    assert not should_promote(_compare_dict(55, 100))  # better, but lower bound ~0.45
    assert not should_promote(_compare_dict(3, 3))  # too few pairs: lower bound ~0.44
    assert not should_promote(_compare_dict(30, 100))
    assert not should_promote(_compare_dict(0, 0))


def test_should_promote_accepts_report():
    low, high = wilson_interval(90, 100)
    report = EvalReport(
        archetype="tank", scenarios=["s"], skipped_scenarios=[], encounters=100, wins=90, ties=5, losses=5,
        win_rate=0.9, wilson_low=low, wilson_high=high, mean_score_ml=1.0, mean_score_traditional=0.5,
        mean_party_damage_ml=0.5, mean_party_damage_traditional=0.2, mean_pack_hp_ml=0.5,
        mean_pack_hp_traditional=0.3, mean_reward_ml=1.0, mean_reward_traditional=0.0, mean_steps_ml=10,
        mean_steps_traditional=10, outcomes_ml={}, outcomes_traditional={}, per_scenario={}, seed=0, seconds=0.0,
        opponent="active")
    assert should_promote(report)
