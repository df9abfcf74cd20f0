"""trainers.ppo: CartPole improves over random, the action mask, checkpoint/resume."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from trainers import ppo
from trainers.common import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ActionRecorder(gym.Env):
    """Four actions, reward 1 for action 3; remembers every action it receives."""

    received: list[int] = []

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        ActionRecorder.received.append(int(action))
        self.t += 1
        obs = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return obs, float(action == 3), False, self.t >= 16, {}


gym.register("TestActionRecorder-v0", entry_point=ActionRecorder)


def _args(tmp_path, **kw) -> ppo.PPOArgs:
    base = dict(env_id="CartPole-v1", total_steps=2048, num_envs=4, num_steps=128, learning_rate=2.5e-3,
                run_dir=tmp_path / "run", device="cpu", checkpoint_every=1024)
    base.update(kw)
    return ppo.PPOArgs(**base)


def _random_return(episodes: int = 50) -> float:
    env = gym.make("CartPole-v1")
    env.action_space.seed(0)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=1000 + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def test_cartpole_improves_over_random(tmp_path):
    random_return = _random_return()
    assert 15 < random_return < 30
    updates: list[float] = []
    result = ppo.train(_args(tmp_path, total_steps=16_384, seed=1), progress=False,
                       on_update=lambda step, s: updates.append(s.get("episodic_return_mean", float("nan"))))
    assert result.metrics["steps"] == 16_384 and result.metrics["updates"] == 32
    # ~150 with this budget and seed; random play ~22
    assert result.metrics["episodic_return_mean"] > 3 * random_return
    assert updates[-1] > updates[2]
    logits = result.model(torch.zeros(2, 4))
    assert logits.shape == (2, 2) and result.model.value(torch.zeros(2, 4)).shape == (2,)


def test_allowed_actions_mask_the_policy(tmp_path):
    ActionRecorder.received.clear()
    result = ppo.train(_args(tmp_path, env_id="TestActionRecorder-v0", total_steps=1024, num_envs=2, num_steps=64,
                             allowed_actions=(1, 3)), progress=False)
    assert set(ActionRecorder.received) == {1, 3}  # the env gets the action ids themselves
    assert len(ActionRecorder.received) == 1024
    assert math.isfinite(result.metrics["entropy"]) and result.metrics["entropy"] <= math.log(2) + 1e-6
    act = ppo.masked_policy(result.model, (1, 3))
    assert set(act(torch.randn(64, 3)).tolist()) <= {1, 3}


def test_allowed_actions_out_of_range_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="allowed_actions"):
        ppo.train(_args(tmp_path, allowed_actions=(0, 5)), progress=False)


def test_resume_continues_the_global_step(tmp_path):
    first = ppo.train(_args(tmp_path, total_steps=1024), progress=False)
    assert load_checkpoint(first.checkpoint)["global_step"] == 1024
    steps: list[int] = []
    second = ppo.train(_args(tmp_path, total_steps=2048), progress=False, on_update=lambda s, _: steps.append(s))
    assert steps == [1536, 2048]
    assert second.metrics["steps"] == 2048
    assert load_checkpoint(second.checkpoint)["global_step"] == 2048
    assert (tmp_path / "run" / "tb").is_dir()


def test_same_seed_same_result(tmp_path):
    a = ppo.train(_args(tmp_path, run_dir=tmp_path / "a", total_steps=1024), progress=False)
    b = ppo.train(_args(tmp_path, run_dir=tmp_path / "b", total_steps=1024), progress=False)
    for (name, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_history_observations(tmp_path):
    result = ppo.train(_args(tmp_path, total_steps=512, history=3), progress=False)
    assert result.metrics["steps"] == 512
    assert result.model(torch.zeros(5, 3, 4)).shape == (5, 2)
