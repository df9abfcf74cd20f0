"""`python manage.py mapserver` against a real gpu worker: ticks go out, decisions come back; and the
simulation behind it (aiworld/mobs/simulation.py) produces states that respect the layout."""

import re
import subprocess
import sys

import numpy as np
import pytest

from aiworld.env import PROJECT_ROOT
from aiworld.mobs import rules
from aiworld.mobs.simulation import MapSimulation
from aiworld.mobs.state import ARCHETYPES, INDEX, LAYOUT, STATE_SIZE, Action
from tests.support.models import install_models
from tests.support.processes import start_worker

FLAGS = [index for index, _, _, meaning in LAYOUT if meaning.startswith("flag")]


def summary_numbers(stdout: str) -> dict[str, int]:
    summary = next(line for line in stdout.splitlines() if line.startswith("summary:"))
    found = {name.replace(" ", "_"): int(value) for value, name in
             re.findall(r"(\d+) (messages sent|replies|decisions)\b", summary)}
    found |= {name.replace(" ", "_"): int(value) for name, value in
              re.findall(r"(errors|missing|late|duplicates|skipped ticks) (\d+)", summary)}
    found["level3"] = int(m.group(1)) if (m := re.search(r"L3:(\d+)", summary)) else 0
    return found


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_simulated_map_servers_get_their_decisions(worker_env, tmp_path):
    install_models(tmp_path / "models", ARCHETYPES)
    # stats every second, so that the live lines can show the workers' L2 hit rate within the run (L2 is off by
    # default: turned on here)
    worker = start_worker(tmp_path, "gpu", {**worker_env, "AIWORLD_STATS_EVERY_S": "1", "AIWORLD_L2_CACHE": "local"},
                          pool="threads", concurrency=4)
    try:
        result = subprocess.run([sys.executable, "manage.py", "mapserver", "--servers", "2", "--monsters", "50",
                                 "--tick-ms", "100", "--duration", "4"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=60, env=worker_env)
    finally:
        worker.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert sum(" decisions/s " in line for line in lines) >= 2, result.stdout  # the live lines, once a second
    assert any(re.search(r"cache L2 \d+%", line) for line in lines), result.stdout
    numbers = summary_numbers(result.stdout)
    assert numbers["messages_sent"] >= 2 * 20, result.stdout  # half of 4 s of 100 ms ticks, 2 maps
    allowance = 2  # a slow first message (the worker loads the models) may miss on a busy machine
    assert numbers["replies"] >= numbers["messages_sent"] - allowance, result.stdout
    assert numbers["decisions"] == 50 * numbers["replies"], result.stdout
    assert numbers["errors"] == 0 and numbers["missing"] <= allowance, result.stdout
    assert numbers["level3"] > 0, result.stdout  # the INT8 models answered (CPU, level 3)


@pytest.mark.integration
def test_absurd_rates_are_refused(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "mapserver", "--servers", "100", "--monsters", "4000",
                             "--tick-ms", "10", "--duration", "1", "--url", "redis://127.0.0.1:1/0"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "above the cap" in result.stderr, result.stderr


# -- the simulation ---------------------------------------------------------------------------------
def simulate(seed: int, monsters: int = 120, ticks: int = 40, actions=None) -> tuple[MapSimulation, np.ndarray]:
    sim = MapSimulation(monsters, seed=seed)
    seen = []
    for tick in range(ticks):
        states = sim.states()
        seen.append(states)
        chosen = rules.decide(states, sim.archetype_ids) if actions is None else actions(sim, states)
        if tick % 4 == 3:
            chosen = np.full(monsters, Action.TRADITIONAL_AI)  # unanswered: the map server's own AI
        sim.step(chosen)
    return sim, np.stack(seen)


def test_simulated_states_respect_the_layout():
    sim, states = simulate(1, monsters=300)
    assert states.shape == (40, 300, STATE_SIZE) and states.dtype == np.float32
    assert np.isfinite(states).all() and states.min() >= 0 and states.max() <= 1
    assert set(np.unique(states[:, :, FLAGS]).tolist()) <= {0.0, 1.0}
    assert (states[:, :, INDEX["reserved"]] == 0).all()
    assert set(sim.archetypes) == set(ARCHETYPES)
    packs = [p for p in sim.packs if p is not None]
    assert packs and len(packs) < len(sim.packs)  # some monsters in packs, not all
    last = states[-1]
    in_pack = np.array([p is not None for p in sim.packs])
    assert (last[:, INDEX["is_leader"]] <= in_pack).all()  # leaders lead packs
    assert last[in_pack, INDEX["is_leader"]].sum() == len(set(packs))  # one leader per pack
    assert (last[~in_pack, INDEX["pack_size"]] == 0).all() and (last[in_pack, INDEX["pack_size"]] >= 0.3).all()
    target = last[:, INDEX["has_target"]] == 1
    assert target.any() and (~target).any()
    assert (last[~target, INDEX["target_distance"]] == 1).all() and (last[~target, INDEX["target_hp"]] == 0).all()
    assert (last[:, INDEX["target_in_range"]] <= last[:, INDEX["has_target"]]).all()
    roles = last[:, INDEX["target_melee"]:INDEX["target_support"] + 1].sum(axis=1)
    assert (roles == last[:, INDEX["has_target"]]).all()  # a target has exactly one role
    assert (states[:, :, INDEX["hp_ratio"]] < 1).any() and (states[:, :, INDEX["sp_ratio"]] < 1).any()
    assert (states[:, :, INDEX["is_casting"]] == 1).any()  # skills were used


def test_simulation_is_deterministic_for_a_seed_and_evolves():
    _, first = simulate(3)
    _, again = simulate(3)
    _, other = simulate(4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    changed = (first[1:] != first[:-1]).any(axis=(0, 1))
    for name in ("hp_ratio", "pos_x", "pos_y", "target_distance", "since_attack", "last_action", "hp_trend"):
        assert changed[INDEX[name]], name


def test_answered_actions_matter():
    def always(action):
        return lambda sim, states: np.full(sim.n, action)

    distance = {}
    for action in (Action.MOVE_CLOSER, Action.FLEE):
        _, states = simulate(5, ticks=30, actions=always(action))
        near = states[-1][:, INDEX["nearest_enemy_distance"]]
        distance[action] = near[near < 1].mean() if (near < 1).any() else 1.0
    assert distance[Action.MOVE_CLOSER] < distance[Action.FLEE]
