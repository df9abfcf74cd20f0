"""trainers.sac: Pendulum runs with in-bound actions, the squashed-Gaussian log-probability, checkpoints."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from trainers import sac
from trainers.common import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _args(tmp_path, **kw) -> sac.SACArgs:
    base = dict(env_id="Pendulum-v1", total_steps=500, num_envs=1, learning_starts=200, batch_size=32,
                hidden_sizes=(32, 32), run_dir=tmp_path / "run", device="cpu", checkpoint_every=250, log_every=100)
    base.update(kw)
    return sac.SACArgs(**base)


def test_pendulum_runs_with_actions_in_bounds(tmp_path):
    qf_losses: list[float] = []
    result = sac.train(_args(tmp_path), progress=False, on_update=lambda step, s: qf_losses.append(s["qf_loss"]))
    metrics = result.metrics
    assert metrics["steps"] == 500 and metrics["critic_updates"] == len(qf_losses) == 301
    assert all(math.isfinite(x) for x in qf_losses)
    assert -2.0 <= min(metrics["action_min"]) and max(metrics["action_max"]) <= 2.0
    assert max(metrics["action_max"]) > 1.0 and min(metrics["action_min"]) < -1.0  # the range is used
    assert metrics["alpha"] > 0 and math.isfinite(metrics["actor_loss"])
    assert result.checkpoint.exists() and load_checkpoint(result.checkpoint)["global_step"] == 500

    space = gym.make("Pendulum-v1").action_space
    obs = np.random.default_rng(0).normal(0, 5, size=(256, 3)).astype(np.float32)
    for deterministic in (True, False):
        actions = sac.act(result.model, obs, space, deterministic=deterministic)
        assert actions.shape == (256, 1) and np.all(actions >= -2.0) and np.all(actions <= 2.0)
    mean, log_std = result.model(torch.as_tensor(obs))
    assert mean.shape == log_std.shape == (256, 1)


def test_squashed_log_prob_matches_torch_transformed_distribution():
    class Fixed(torch.nn.Module):
        def forward(self, obs):
            return obs[:, :2], obs[:, 2:] * 0.5 - 0.5

    torch.manual_seed(0)
    obs = torch.randn(64, 4)
    action, log_prob, mean_action = sac.sample_action(Fixed(), obs)
    mean, log_std = obs[:, :2], obs[:, 2:] * 0.5 - 0.5
    reference = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform(cache_size=1)])
    torch.testing.assert_close(log_prob, reference.log_prob(action).sum(-1), rtol=1e-3, atol=1e-3)
    assert torch.all(action.abs() <= 1) and torch.equal(mean_action, torch.tanh(mean))


def test_action_scale_maps_to_asymmetric_bounds():
    space = gym.spaces.Box(np.array([0.0, -3.0], np.float32), np.array([1.0, 1.0], np.float32))
    scale = sac.ActionScale(space, torch.device("cpu"))
    np.testing.assert_allclose(scale.to_env(torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])),
                               [[0.0, -3.0], [1.0, 1.0], [0.5, -1.0]])
    with pytest.raises(ValueError):
        sac.ActionScale(gym.spaces.Box(-np.inf, np.inf, (1,)), torch.device("cpu"))


def test_discrete_env_is_refused(tmp_path):
    with pytest.raises(TypeError, match="Box"):
        sac.train(_args(tmp_path, env_id="CartPole-v1"), progress=False)


def test_resume_continues_the_global_step(tmp_path):
    sac.train(_args(tmp_path, total_steps=250), progress=False)
    steps: list[int] = []
    result = sac.train(_args(tmp_path, total_steps=500), progress=False, on_update=lambda s, _: steps.append(s))
    # the buffer restarts empty: updates resume once it holds learning_starts transitions again
    assert steps and min(steps) >= 250 + 200
    assert result.metrics["steps"] == 500
    assert load_checkpoint(result.checkpoint)["global_step"] == 500
