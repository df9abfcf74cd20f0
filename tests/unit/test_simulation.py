import numpy as np

from aiworld.mobs import rules
from aiworld.mobs.simulation import MapSimulation
from aiworld.mobs.state import INDEX, LAYOUT


def run(seed, ticks=30):
    sim = MapSimulation(120, seed=seed)
    seen = []
    for _ in range(ticks):
        states = sim.states()
        seen.append(states)
        sim.step(rules.decide(states, sim.archetype_ids))
    return np.stack(seen)


def test_states_respect_the_layout():
    states = run(1)
    assert states.min() >= 0 and states.max() <= 1
    flags = [index for index, _, _, meaning in LAYOUT if meaning.startswith("flag")]
    assert set(np.unique(states[:, :, flags]).tolist()) <= {0.0, 1.0}
    assert states[:, :, INDEX["has_target"]].any()  # some monsters meet adventurers


def test_deterministic_for_a_seed_and_evolving():
    first, again, other = run(3), run(3), run(4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[-1])
