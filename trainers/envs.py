"""Vectorised environments for the trainers: SAME_STEP autoreset, optional observation history, episode stats.

SAME_STEP autoreset (gymnasium 1.x): when a sub-env's episode ends at a step, the observation returned for it
by that step is already the next episode's first observation; the last observation of the finished episode
is in `infos["final_obs"][i]` (with `infos["_final_obs"][i]` True). Every transition a trainer stores is
therefore (obs, action, reward, final_obs if done else next_obs).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv, VectorWrapper

logger = logging.getLogger("aiworld.train")

EPISODE_STATS_WINDOW = 100


def make_vec_env(env_id: str, num_envs: int, seed: int, history: int = 0, **env_kwargs: Any) -> VectorEnv:
    """`num_envs` copies of `env_id` with SAME_STEP autoreset, wrapped with `EpisodeStats` (outermost).

    Envs whose spec has a `vector_entry_point` that autoresets SAME_STEP (the arena) are built natively with
    `gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`; everything else (including gymnasium's
    own NEXT_STEP vector CartPole) is a SyncVectorEnv of `gymnasium.make(env_id, **env_kwargs)`.
    `history=k>0` stacks the last k observations: float32[N, k, *obs_shape], oldest first, zero rows before
    the episode's first step. The first `reset()` without an explicit seed uses `seed`; action and
    observation spaces are seeded with it too.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if env_id.startswith("aiworld/"):
        import trainers.arena  # noqa: F401  (registers the aiworld/* ids)

    envs = _native_vector_env(env_id, num_envs, env_kwargs)
    if envs is None:
        envs = SyncVectorEnv(
            [_env_factory(env_id, env_kwargs) for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP
        )
    if history > 0:
        envs = HistoryObservation(envs, history)
    envs = EpisodeStats(envs, seed=seed)
    envs.action_space.seed(seed)
    envs.single_action_space.seed(seed)
    envs.observation_space.seed(seed)
    logger.debug("made %d x %s (history=%d, %s)", num_envs, env_id, history, type(envs.unwrapped).__name__)
    return envs


def _env_factory(env_id: str, env_kwargs: dict[str, Any]):
    def make() -> gym.Env:
        return gym.make(env_id, **env_kwargs)

    return make


def _native_vector_env(env_id: str, num_envs: int, env_kwargs: dict[str, Any]) -> VectorEnv | None:
    spec = gym.spec(env_id)
    if spec.vector_entry_point is None:
        return None
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
    if envs.metadata.get("autoreset_mode") == AutoresetMode.SAME_STEP:
        return envs
    # e.g. gymnasium's CartPoleVectorEnv autoresets NEXT_STEP; the trainers all assume SAME_STEP
    mode = envs.metadata.get("autoreset_mode")
    logger.debug("%s vector_entry_point autoresets %s: using SyncVectorEnv", env_id, mode)
    envs.close()
    return None


def final_observations(next_obs: np.ndarray, infos: dict[str, Any], dones: np.ndarray) -> np.ndarray:
    """`next_obs` with the rows of finished episodes replaced by their final observation (a copy).

    Handles both forms of `infos["final_obs"]`: gymnasium's object array (None where not done) and a dense
    array as a native vector env may give.
    """
    real = np.array(next_obs, copy=True)
    if "final_obs" not in infos:
        return real
    final = infos["final_obs"]
    mask = np.asarray(infos.get("_final_obs", dones), dtype=bool)
    for i in np.flatnonzero(mask):
        real[i] = final[i]
    return real


def _history_space(space: spaces.Box, k: int) -> spaces.Box:
    # zero padding must lie inside the space
    low = np.minimum(np.broadcast_to(space.low, space.shape), 0).astype(np.float32)
    high = np.maximum(np.broadcast_to(space.high, space.shape), 0).astype(np.float32)
    return spaces.Box(
        low=np.repeat(low[None], k, axis=0), high=np.repeat(high[None], k, axis=0), dtype=np.float32
    )


class HistoryObservation(VectorWrapper):
    """Observations become the last `k` observations, float32[N, k, *obs_shape], oldest first.

    Rows before an episode's first observation are zeros (as the serving side's WorkingMemory does for a monster
    not yet seen). With SAME_STEP autoreset a finished sub-env's history restarts at the step it ends: the returned
    observation's history is [0, ..., 0, first_obs], and `infos["final_obs"][i]` becomes the finished episode's
    history ending with its last observation.
    """

    def __init__(self, env: VectorEnv, k: int) -> None:
        super().__init__(env)
        if not isinstance(env.single_observation_space, spaces.Box):
            raise TypeError(f"history needs a Box observation space, got {env.single_observation_space}")
        mode = env.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"HistoryObservation needs SAME_STEP autoreset, the env uses {mode}")
        self.k = int(k)
        self.single_observation_space = _history_space(env.single_observation_space, self.k)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self._buffer = np.zeros((self.num_envs, self.k, *env.single_observation_space.shape), dtype=np.float32)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        mask = None if options is None else options.get("reset_mask")
        obs, infos = self.env.reset(seed=seed, options=options)
        rows = np.arange(self.num_envs) if mask is None else np.flatnonzero(mask)
        self._buffer[rows] = 0.0
        self._buffer[rows, -1] = np.asarray(obs, dtype=np.float32)[rows]
        return self._buffer.copy(), infos

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        obs = np.asarray(obs, dtype=np.float32)
        dones = np.logical_or(terminations, truncations)
        # every sub-env's history moves one step; finished ones see their final obs as the newest row
        shifted = np.roll(self._buffer, -1, axis=1)
        shifted[:, -1] = final_observations(obs, infos, dones)
        if dones.any():
            infos = dict(infos)
            final = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(dones):
                final[i] = shifted[i].copy()
            infos["final_obs"] = final
            infos["_final_obs"] = dones.copy()
            # the new episode starts from zeros with its first obs as the newest row
            shifted[dones] = 0.0
            shifted[dones, -1] = obs[dones]
        self._buffer = shifted
        return self._buffer.copy(), rewards, terminations, truncations, infos


class EpisodeStats(VectorWrapper):
    """Episode returns and lengths (RecordEpisodeStatistics for SAME_STEP autoreset).

    When sub-env i finishes, `infos["episode"] = {"r": float[N], "l": int[N]}` and `infos["_episode"][i]` is
    True; the last `EPISODE_STATS_WINDOW` episodes are kept in `return_queue` / `length_queue`. The first
    `reset()` without a seed uses the seed given here.
    """

    def __init__(self, env: VectorEnv, seed: int | None = None, window: int = EPISODE_STATS_WINDOW) -> None:
        super().__init__(env)
        self._seed = seed
        self._seeded = False
        self.episode_count = 0
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.return_queue: deque[float] = deque(maxlen=window)
        self.length_queue: deque[int] = deque(maxlen=window)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if seed is None and not self._seeded:
            seed = self._seed
        self._seeded = True
        mask = None if options is None else options.get("reset_mask")
        obs, infos = self.env.reset(seed=seed, options=options)
        rows = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        self.episode_returns[rows] = 0.0
        self.episode_lengths[rows] = 0
        return obs, infos

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        self.episode_returns += np.asarray(rewards, dtype=np.float64)
        self.episode_lengths += 1
        dones = np.logical_or(terminations, truncations)
        if dones.any():
            infos = dict(infos)
            infos["episode"] = {
                "r": np.where(dones, self.episode_returns, 0.0),
                "l": np.where(dones, self.episode_lengths, 0),
            }
            infos["_episode"] = dones.copy()
            for i in np.flatnonzero(dones):
                self.return_queue.append(float(self.episode_returns[i]))
                self.length_queue.append(int(self.episode_lengths[i]))
            self.episode_count += int(dones.sum())
            # SAME_STEP: the obs just returned already belongs to the next episode, which has no steps yet
            self.episode_returns[dones] = 0.0
            self.episode_lengths[dones] = 0
        return obs, rewards, terminations, truncations, infos

    def stats_state(self) -> dict[str, Any]:
        """For checkpoints, so a resumed run reports the episodes seen before it."""
        return {"returns": list(self.return_queue), "lengths": list(self.length_queue), "count": self.episode_count}

    def load_stats_state(self, state: dict[str, Any]) -> None:
        self.return_queue.extend(state.get("returns", []))
        self.length_queue.extend(state.get("lengths", []))
        self.episode_count = int(state.get("count", 0))


def episode_stats(envs: VectorEnv) -> EpisodeStats:
    """The EpisodeStats wrapper `make_vec_env` put outermost."""
    if isinstance(envs, EpisodeStats):
        return envs
    env = envs
    while isinstance(env, VectorWrapper):
        if isinstance(env, EpisodeStats):
            return env
        env = env.env
    raise TypeError("envs has no EpisodeStats wrapper: build it with make_vec_env")
