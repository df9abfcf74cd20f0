"""PettingZoo ParallelEnv: the whole pack of one arena, one agent per monster (centralised training).

Agents `monster_0..monster_{M-1}`; obs Box(0, 1, (64,)), actions Discrete(10) (255 is accepted too: the
traditional AI). `state()` is the concatenation of every member's obs (float32[M * 64]). A monster that dies
is terminated and leaves `agents`; when the encounter ends every remaining agent terminates (a side wiped
out) or truncates (max_steps). A missing action means the traditional AI plays that monster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from aiworld.mobs.state import MODEL_ACTIONS, STATE_SIZE, Action
from trainers.arena.core import VecArena
from trainers.arena.scenario import Scenario, load_scenario


class PackEnv(ParallelEnv):
    metadata = {"name": "aiworld_pack_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, scenario: str | Scenario = "open_field", seed: int = 0):
        sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self._seed = seed
        self.arena = VecArena(sc, 1, seed=seed, auto_reset=False)
        self.possible_agents = [f"monster_{i}" for i in range(self.arena.M)]
        self.agents = list(self.possible_agents)
        self._index = {name: i for i, name in enumerate(self.possible_agents)}
        self.state_space = spaces.Box(0.0, 1.0, (self.arena.M * STATE_SIZE,), np.float32)
        # one space object per agent, as PettingZoo expects
        self._obs_spaces = {a: spaces.Box(0.0, 1.0, (STATE_SIZE,), np.float32) for a in self.possible_agents}
        self._act_spaces = {a: spaces.Discrete(MODEL_ACTIONS) for a in self.possible_agents}
        self._states = self.arena.observe()[0]
        self.render_mode = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._seed = seed
            self.arena.reset(seed)
        else:
            self.arena.reset()
        self.agents = list(self.possible_agents)
        self._states = self.arena.observe()[0]
        return {a: self._states[self._index[a]] for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        full = np.full((1, self.arena.M), Action.TRADITIONAL_AI, np.int16)
        for agent, action in actions.items():
            if agent in self._index and agent in self.agents:
                full[0, self._index[agent]] = int(action)
        result = self.arena.step(full)
        self._states = self.arena.observe()[0]
        done = bool(result.done[0])
        truncated = bool(result.truncated[0])
        alive = self.arena.alive[0]
        obs, rewards, terms, truncs, infos = {}, {}, {}, {}, {}
        for agent in self.agents:
            i = self._index[agent]
            obs[agent] = self._states[i]
            rewards[agent] = float(result.reward[0, i])
            terms[agent] = (done and not truncated) or not bool(alive[i])
            truncs[agent] = truncated
            infos[agent] = {key: value[0].item() for key, value in result.outcome.items()} if done else {}
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, infos

    def state(self) -> np.ndarray:
        return self._states.reshape(-1).copy()

    def close(self) -> None:
        pass


def pack_env(scenario: str | Scenario = "open_field", seed: int = 0) -> PackEnv:
    """The pack of one arena as a PettingZoo ParallelEnv (see the module docstring)."""
    return PackEnv(scenario, seed)
