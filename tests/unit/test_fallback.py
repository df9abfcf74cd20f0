"""The fallback controller: degrade on errors and latency, GPU loss; recover one level at a time
with hysteresis, from level 5 too; a forced level pins it."""

import pytest

from aiworld.mobs.fallback import FallbackController, FallbackPolicy


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make(unavailable=None, **policy):
    unavailable = unavailable if unavailable is not None else {}
    clock = Clock()
    controller = FallbackController(available=lambda level: unavailable.get(level),
                                    policy=FallbackPolicy(**{"recover_after": 5, "dwell_s": 10, **policy}),
                                    clock=clock)
    return controller, clock, unavailable


def serve(controller, n, latency_ms=1.0, error=False):
    for _ in range(n):
        level, probe = controller.next_level()
        controller.record(level, latency_ms, error, probe=probe)


def test_starts_at_the_best_available_level():
    controller, _, _ = make({1: "no GPU", 2: "no TensorRT"})
    assert controller.level == 3
    controller, _, _ = make({})
    assert controller.level == 1
    controller, _, _ = make({1: "x", 2: "x", 3: "no model"})
    assert controller.level == 4


def test_three_consecutive_errors_degrade_one_available_level():
    controller, _, _ = make({2: "no TensorRT"})
    serve(controller, 2, error=True)
    serve(controller, 1)  # a good batch resets the streak
    serve(controller, 2, error=True)
    assert controller.level == 1
    serve(controller, 1, error=True)
    assert controller.level == 3  # level 2 is unavailable: skipped
    assert "3 bad batches" in controller.transitions[-1].reason


@pytest.mark.parametrize(("level", "slow", "fine"), [(1, 31, 29), (3, 121, 119), (4, 181, 179)])
def test_latency_over_1_5x_budget_degrades(level, slow, fine):
    unavailable = {lv: "off" for lv in range(1, level)}
    controller, _, _ = make(unavailable)
    assert controller.level == level
    serve(controller, 10, latency_ms=fine)
    assert controller.level == level
    serve(controller, 3, latency_ms=slow)
    assert controller.level == level + 1 if level < 3 else controller.level > level


def test_gpu_loss_drops_at_once():
    controller, _, unavailable = make({2: "no TensorRT"})
    unavailable[1] = "GPU memory pressure (97% in use)"
    controller.check_health()
    assert controller.level == 3 and "memory pressure" in controller.transitions[-1].reason


def test_recovery_probes_with_real_requests_one_level_at_a_time():
    controller, clock, unavailable = make({1: "GPU lost"})
    assert controller.level == 2
    unavailable[2] = "lost too"
    controller.check_health()
    assert controller.level == 3
    unavailable.clear()  # the GPU is back
    serve(controller, 10)
    assert controller.next_level() == (3, False)  # dwell time not over yet
    clock.now += 11
    level, probe = controller.next_level()
    assert (level, probe) == (2, True)  # one level up, not straight to 1
    serve(controller, 3)
    assert controller.level == 2
    clock.now += 11
    serve(controller, 5)
    clock.now += 11
    serve(controller, 8)
    assert controller.level == 1


def test_failed_probe_keeps_the_level_and_doubles_the_dwell():
    controller, clock, unavailable = make({1: "x", 2: "x"})
    unavailable.pop(2)
    serve(controller, 5)
    clock.now += 11
    level, probe = controller.next_level()
    assert probe and level == 2
    controller.record(level, 1000.0, error=False, probe=True)  # far over budget
    assert controller.level == 3
    serve(controller, 5)
    clock.now += 11
    assert controller.next_level() == (3, False)  # dwell is now 20 s
    clock.now += 10
    assert controller.next_level() == (2, True)


def test_level_5_recovers_by_probing_level_4():
    controller, clock, _ = make({1: "x", 2: "x", 3: "no model"})
    serve(controller, 3, error=True)
    assert controller.level == 5
    serve(controller, 5, latency_ms=0.0)  # level 5 records outcomes like every level
    clock.now += 11
    assert controller.next_level() == (4, True)
    serve(controller, 3)
    assert controller.level == 4


def test_forced_level_pins_and_clearing_returns_to_the_best():
    controller, _, _ = make({1: "x", 2: "x"})
    controller.force(5)
    assert controller.next_level() == (5, False)
    serve(controller, 10, error=True)
    assert controller.next_level() == (5, False)
    controller.force(None)
    assert controller.next_level() == (3, False)
    with pytest.raises(ValueError):
        controller.force(7)
