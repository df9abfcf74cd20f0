"""The arena: rAthena-style combat between monster packs and scripted adventurer parties (the rules are in
docs/arena.md; how the learning stack uses it in docs/learning.md).

Importing the package registers the Gymnasium ids "aiworld/Arena-v0" and "aiworld/ArenaMove-v0".
"""

import gymnasium as _gym

from trainers.arena.core import StepResult, VecArena
from trainers.arena.pack_env import PackEnv, pack_env
from trainers.arena.scenario import Scenario, ScenarioError, load_scenario, scenario_names

__all__ = ["PackEnv", "Scenario", "ScenarioError", "StepResult", "VecArena", "load_scenario", "pack_env",
           "scenario_names"]


def _register() -> None:
    for env_id, single, vector in (
        ("aiworld/Arena-v0", "ArenaEnv", "ArenaVectorEnv"),
        ("aiworld/ArenaMove-v0", "ArenaMoveEnv", "ArenaMoveVectorEnv"),
    ):
        if env_id in _gym.registry:  # importing twice (or reloading) must not register twice
            continue
        _gym.register(id=env_id, entry_point=f"trainers.arena.gym_env:{single}",
                      vector_entry_point=f"trainers.arena.gym_env:{vector}", disable_env_checker=True)


_register()
