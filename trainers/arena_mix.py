"""One vector env over several arena scenarios: the RL members train on every train scenario at once.

`aiworld/ArenaMix-v0` (discrete actions) and `aiworld/ArenaMixMove-v0` (the continuous (radial,
tangential) control) concatenate one ArenaVectorEnv per scenario. Each scenario gets the same number of
arenas, so a scenario whose pack holds more monsters of the archetype contributes more sub-envs;
`mix_num_envs` gives the exact sub-env count for a wished one (the trainers need it exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from aiworld.mobs.state import ARCHETYPES


def controlled_per_arena(scenario: str, archetype: str) -> int:
    from trainers.arena import load_scenario

    return sum(1 for a in load_scenario(scenario).archetypes if a == archetype)


def _layout(scenarios: Sequence[str], archetype: str, num_envs: int) -> list[tuple[str, int]]:
    """(scenario, sub-envs) for each scenario holding the archetype, as even in arenas as num_envs allows."""
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}")
    counts = [(s, controlled_per_arena(s, archetype)) for s in scenarios]
    counts = [(s, k) for s, k in counts if k > 0]
    if not counts:
        raise ValueError(f"none of {list(scenarios)} holds a {archetype} monster")
    arenas = max(1, round(num_envs / sum(k for _, k in counts)))
    return [(s, arenas * k) for s, k in counts]


def mix_num_envs(scenarios: Sequence[str], archetype: str, wished: int) -> int:
    """The sub-env count closest to `wished` that the mix can be built with."""
    return sum(n for _, n in _layout(scenarios, archetype, wished))


class ConcatVectorEnv(VectorEnv):
    """Sub-envs of several SAME_STEP vector envs with equal spaces, side by side."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, envs: Sequence[VectorEnv]):
        first = envs[0]
        for env in envs[1:]:
            if env.single_observation_space != first.single_observation_space or \
                    env.single_action_space != first.single_action_space:
                raise ValueError("concatenated vector envs must share their spaces")
        self.envs = list(envs)
        self.num_envs = sum(env.num_envs for env in envs)
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._bounds = np.cumsum([0] + [env.num_envs for env in envs])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        results = [env.reset(seed=None if seed is None else seed + 7919 * i, options=options)
                   for i, env in enumerate(self.envs)]
        return np.concatenate([obs for obs, _ in results]), self._merge([info for _, info in results])

    def step(self, actions):
        actions = np.asarray(actions)
        results = [env.step(actions[a:b]) for env, a, b in zip(self.envs, self._bounds[:-1], self._bounds[1:],
                                                                strict=True)]
        obs, rewards, terms, truncs, infos = zip(*results, strict=True)
        return (np.concatenate(obs), np.concatenate(rewards), np.concatenate(terms), np.concatenate(truncs),
                self._merge(list(infos)))

    def _merge(self, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """Vector infos (arrays with a `_key` mask) side by side; a key one env lacks is masked off there."""
        merged: dict[str, Any] = {}
        keys = {k for info in infos for k in info if not k.startswith("_")}
        for key in keys:
            parts, masks = [], []
            for env, info in zip(self.envs, infos, strict=True):
                if key in info:
                    value = np.asarray(info[key])
                    if value.dtype != object and value.ndim == 0:
                        value = np.full(env.num_envs, value)
                    parts.append(value)
                    masks.append(np.asarray(info.get(f"_{key}", np.ones(env.num_envs, bool)), bool))
                else:
                    parts.append(np.full(env.num_envs, None, dtype=object))
                    masks.append(np.zeros(env.num_envs, bool))
            if any(p.dtype == object for p in parts) or len({p.shape[1:] for p in parts}) > 1:
                parts = [_objects(p) for p in parts]
            merged[key] = np.concatenate(parts)
            merged[f"_{key}"] = np.concatenate(masks)
        return merged

    def close(self, **kwargs):
        for env in self.envs:
            env.close(**kwargs)


def _objects(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _make_mix(env_id: str):
    def make(num_envs: int, scenarios: Sequence[str], archetype: str, **kwargs: Any) -> ConcatVectorEnv:
        import trainers.arena  # noqa: F401  (registers the single-scenario ids)

        layout = _layout(scenarios, archetype, num_envs)
        if sum(n for _, n in layout) != num_envs:
            raise ValueError(f"{num_envs} sub-envs cannot be split evenly over {list(scenarios)}: use "
                             f"trainers.arena_mix.mix_num_envs(...) = {mix_num_envs(scenarios, archetype, num_envs)}")
        return ConcatVectorEnv([gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                                             scenario=s, archetype=archetype, **kwargs) for s, n in layout])

    return make


def _single(env_id: str):
    def make(scenarios: Sequence[str], archetype: str, **kwargs: Any) -> gym.Env:
        import trainers.arena  # noqa: F401

        return gym.make(env_id, scenario=scenarios[0], archetype=archetype, **kwargs)

    return make


def register() -> None:
    for mix_id, base_id in (("aiworld/ArenaMix-v0", "aiworld/Arena-v0"),
                            ("aiworld/ArenaMixMove-v0", "aiworld/ArenaMove-v0")):
        if mix_id not in gym.registry:
            gym.register(mix_id, entry_point=_single(base_id), vector_entry_point=_make_mix(base_id))


register()
