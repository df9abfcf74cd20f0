"""Gymnasium environments over the arena: one controlled monster per sub-env.

- `ArenaEnv` ("aiworld/Arena-v0"): a single env controlling the first monster of `archetype` in one arena; the
  rest of the pack plays the traditional AI. obs Box(0, 1, (64,)), action Discrete(10).
- `ArenaMoveEnv` ("aiworld/ArenaMove-v0"): the same with a continuous action Box(-1, 1, (2,)) =
  (radial, tangential) relative to the target, mapped by `continuous_to_action`.
- `ArenaVectorEnv` / `ArenaMoveVectorEnv` (their `vector_entry_point`): N = arenas x controlled monsters per
  arena; every monster of the archetype is controlled (parameter sharing), sub-env i is monster
  `controlled[i % k]` of arena `i // k`. SAME_STEP autoreset: on done the returned obs is the new
  encounter's first obs and infos["final_obs"] / infos["_final_obs"] hold the last one. A controlled monster
  that dies keeps returning its dead state with reward 0 until its encounter ends (then every sub-env of
  that arena ends together; the final tick still pays the team outcome).
Episodes end by `terminated` when a side is wiped out and by `truncated` at the scenario's max_steps.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from aiworld.mobs.state import ARCHETYPES, MODEL_ACTIONS, STATE_SIZE, Action
from trainers.arena.core import VecArena
from trainers.arena.scenario import load_scenario

ATTACK_RADIUS = 0.3  # |v| below this: ATTACK


def continuous_to_action(v: np.ndarray) -> np.ndarray:
    """(radial, tangential) in [-1, 1]^2 -> action ids: |v| < 0.3 ATTACK; radial dominant MOVE_CLOSER (> 0) /
    MOVE_AWAY (< 0); tangential dominant MOVE_RANDOM (a random sideways step around the target)."""
    v = np.asarray(v, np.float32).reshape(-1, 2)
    radial, tangential = v[:, 0], v[:, 1]
    out = np.where(radial >= 0, Action.MOVE_CLOSER, Action.MOVE_AWAY)
    out = np.where(np.abs(tangential) > np.abs(radial), Action.MOVE_RANDOM, out)
    out = np.where(np.hypot(radial, tangential) < ATTACK_RADIUS, Action.ATTACK, out)
    return out.astype(np.int16)


def _controlled(arena: VecArena, archetype: str) -> np.ndarray:
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}; one of {ARCHETYPES}")
    idx = np.flatnonzero(arena.kind[:arena.M] == ARCHETYPES.index(archetype))
    if len(idx) == 0:
        raise ValueError(f"scenario {arena.scenario.name!r} has no {archetype} monster")
    return idx


OBS_SPACE = spaces.Box(0.0, 1.0, (STATE_SIZE,), np.float32)
MOVE_SPACE = spaces.Box(-1.0, 1.0, (2,), np.float32)


class ArenaEnv(gym.Env):
    """One controlled monster (the first of its archetype in the pack) in one arena."""

    metadata = {"render_modes": []}
    continuous = False

    def __init__(self, scenario: str = "open_field", archetype: str = "aggressive", render_mode: str | None = None):
        self.scenario_name = scenario
        self.archetype = archetype
        self.arena = VecArena(load_scenario(scenario), 1, seed=0, auto_reset=False)
        self.index = int(_controlled(self.arena, archetype)[0])
        self.observation_space = OBS_SPACE
        self.action_space = MOVE_SPACE if self.continuous else spaces.Discrete(MODEL_ACTIONS)
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        # the arena's generator follows gymnasium's: seeded resets are reproducible, unseeded ones differ
        self.arena.reset(int(self.np_random.integers(0, 2**63 - 1)))
        return self.arena.observe()[0, self.index], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        actions = np.full((1, self.arena.M), Action.TRADITIONAL_AI, np.int16)
        a = continuous_to_action(action)[0] if self.continuous else int(action)
        alive = bool(self.arena.alive[0, self.index])
        if alive:
            actions[0, self.index] = a
        result = self.arena.step(actions)
        obs = self.arena.observe()[0, self.index]
        reward = float(result.reward[0, self.index]) if alive or result.done[0] else 0.0
        done = bool(result.done[0])
        truncated = bool(result.truncated[0])
        info = {}
        if done:
            info = {key: value[0].item() for key, value in result.outcome.items()}
        return obs, reward, done and not truncated, truncated, info


class ArenaMoveEnv(ArenaEnv):
    continuous = True


class ArenaVectorEnv(VectorEnv):
    """num_envs = arenas x (monsters of `archetype` per arena), all controlled (parameter sharing)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    continuous = False

    def __init__(self, num_envs: int = 1, scenario: str = "open_field", archetype: str = "aggressive",
                 seed: int = 0, **_: Any):
        sc = load_scenario(scenario)
        if archetype not in ARCHETYPES:
            raise ValueError(f"unknown archetype {archetype!r}; one of {ARCHETYPES}")
        controlled = np.array([i for i, a in enumerate(sc.archetypes) if a == archetype], np.int64)
        if len(controlled) == 0:
            raise ValueError(f"scenario {scenario!r} has no {archetype} monster")
        k = len(controlled)
        if num_envs < 1 or num_envs % k:
            raise ValueError(f"num_envs={num_envs} must be a positive multiple of {k}: scenario {scenario!r} has {k} "
                             f"{archetype} monster(s) per arena and every one is a sub-env")
        self.num_envs = num_envs
        self.k = k
        self.controlled = controlled
        self.arena = VecArena(sc, num_envs // k, seed=seed, auto_reset=True)
        self.scenario_name, self.archetype = scenario, archetype
        self.single_observation_space = OBS_SPACE
        self.single_action_space = MOVE_SPACE if self.continuous else spaces.Discrete(MODEL_ACTIONS)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def _obs(self, states: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(states[:, self.controlled].reshape(self.num_envs, STATE_SIZE))

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if isinstance(seed, (list, tuple)):
            seed = seed[0] if seed else None
        if seed is not None:
            self.single_action_space.seed(seed)
            self.action_space.seed(seed)
        self.arena.reset(seed)
        return self._obs(self.arena.observe()), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        A = self.arena
        if self.continuous:
            ids = continuous_to_action(np.asarray(actions, np.float32).reshape(self.num_envs, 2))
        else:
            ids = np.asarray(actions).reshape(self.num_envs).astype(np.int16)
        full = np.full((A.E, A.M), Action.TRADITIONAL_AI, np.int16)
        alive = A.alive[:, self.controlled].copy()
        full[:, self.controlled] = np.where(alive, ids.reshape(A.E, self.k), Action.TRADITIONAL_AI)
        result = A.step(full)
        done = np.repeat(result.done, self.k)
        truncated = np.repeat(result.truncated, self.k)
        reward = result.reward[:, self.controlled]
        reward = np.where(alive | result.done[:, None], reward, 0.0).reshape(self.num_envs).astype(np.float32)
        obs = self._obs(A.observe())
        infos: dict[str, Any] = {}
        if done.any():
            final = np.zeros((self.num_envs, STATE_SIZE), np.float32)
            final[done] = self._obs(result.final_states)[done]
            infos["final_obs"] = final
            infos["_final_obs"] = done
            for key in ("winner", "score", "party_damage", "pack_hp", "steps"):
                infos[key] = np.repeat(result.outcome[key], self.k)
                infos["_" + key] = done
        return obs, reward, done & ~truncated, truncated, infos


class ArenaMoveVectorEnv(ArenaVectorEnv):
    continuous = True
