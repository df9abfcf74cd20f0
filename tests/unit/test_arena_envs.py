"""Gymnasium and PettingZoo front ends of the arena."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from pettingzoo.test import parallel_api_test

import trainers.arena
from aiworld.mobs.state import STATE_SIZE, Action
from trainers.arena import pack_env
from trainers.arena.gym_env import ArenaVectorEnv, continuous_to_action


@pytest.mark.parametrize("env_id", ["aiworld/Arena-v0", "aiworld/ArenaMove-v0"])
def test_single_env_passes_the_gymnasium_checker(env_id):
    env = gym.make(env_id, scenario="crossroads", archetype="support")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings count as failures
        check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (STATE_SIZE,) and env.observation_space.contains(obs)


def test_registration_is_idempotent():
    trainers.arena._register()
    trainers.arena._register()
    assert gym.spec("aiworld/Arena-v0").vector_entry_point.endswith("ArenaVectorEnv")


def test_vector_env_same_step_autoreset_and_dead_monsters():
    envs = gym.make_vec("aiworld/Arena-v0", num_envs=4, vectorization_mode="vector_entry_point",
                        scenario="ruins", archetype="mage")  # two mages per arena: 2 arenas
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = envs.reset(seed=5)
    assert obs.shape == (4, STATE_SIZE)
    arena = envs.unwrapped.arena
    ended = 0
    for _ in range(arena.max_steps + 1):
        dead = ~arena.alive[:, envs.unwrapped.controlled].reshape(-1)
        obs, reward, term, trunc, info = envs.step(np.full(4, Action.ATTACK))
        done = term | trunc
        assert (reward[dead & ~done] == 0).all()  # a dead monster is paid nothing until the end
        assert (done.reshape(2, 2) == done.reshape(2, 2)[:, :1]).all()  # a pack's sub-envs end together
        if done.any():
            ended += int(done.sum())
            assert info["_final_obs"].tolist() == done.tolist()
            assert info["final_obs"][done].any()
            assert (obs[done][:, 0] == 1.0).all()  # already the new encounter: full HP
    assert ended > 0


def test_vector_env_rejects_a_non_multiple():
    with pytest.raises(ValueError, match="multiple of 2"):
        ArenaVectorEnv(num_envs=3, scenario="ruins", archetype="mage")
    with pytest.raises(ValueError, match="no tank"):
        ArenaVectorEnv(num_envs=2, scenario="swamp", archetype="tank")


def test_move_env_vector_and_mapping():
    v = continuous_to_action(np.array([[0.0, 0.1], [0.9, 0.2], [-0.8, 0.1], [0.1, -0.9], [0.2, 0.7]]))
    assert v.tolist() == [Action.ATTACK, Action.MOVE_CLOSER, Action.MOVE_AWAY, Action.MOVE_RANDOM,
                          Action.MOVE_RANDOM]
    envs = gym.make_vec("aiworld/ArenaMove-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        scenario="open_field", archetype="tank")
    envs.reset(seed=0)
    obs, reward, *_ = envs.step(np.zeros((2, 2), np.float32))
    assert obs.shape == (2, STATE_SIZE) and reward.dtype == np.float32


def test_pack_env_passes_the_parallel_api_test():
    env = pack_env("crossroads", seed=0)
    parallel_api_test(env, num_cycles=300)
    env.reset(seed=1)
    assert env.state().shape == (env.arena.M * STATE_SIZE,)
    assert env.state_space.contains(env.state())
