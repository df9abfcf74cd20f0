"""trainers.dqn: sum-tree, n-step returns, a short CartPole run, checkpoint/resume and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainers import dqn
from trainers.common import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _args(tmp_path, **kw) -> dqn.DQNArgs:
    base = dict(env_id="CartPole-v1", total_steps=600, num_envs=2, learning_starts=200, batch_size=32,
                buffer_size=2_000, train_frequency=2, target_update_period=100, hidden_sizes=(32, 32),
                checkpoint_every=250, log_every=100, run_dir=tmp_path / "run", device="cpu")
    base.update(kw)
    return dqn.DQNArgs(**base)


def test_sum_tree_totals_and_proportional_sampling():
    tree = dqn.SumTree(5)
    assert tree.capacity == 8
    tree.update(np.array([0, 1, 2, 3, 4]), np.array([1.0, 0.0, 3.0, 0.0, 4.0]))
    assert tree.total == pytest.approx(8.0)
    # cumulative: [0,1) -> 0, [1,4) -> 2, [4,8) -> 4
    np.testing.assert_array_equal(tree.find(np.array([0.0, 0.99, 1.0, 3.99, 4.0, 7.99])), [0, 0, 2, 2, 4, 4])
    tree.update(np.array([2]), np.array([0.5]))
    assert tree.total == pytest.approx(5.5)

    replay = dqn.PrioritizedReplay(4, (1,), alpha=1.0, eps=0.0, seed=0)
    replay.add(np.arange(4.0)[:, None], np.arange(4), np.zeros(4), np.zeros((4, 1)), np.ones(4))
    replay.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    counts = np.zeros(4)
    for _ in range(500):
        _, idx, weights = replay.sample(8, beta=1.0)
        counts += np.bincount(idx, minlength=4)
        assert weights.max() == pytest.approx(1.0)
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.03)


def test_importance_weights_undo_the_sampling_bias():
    replay = dqn.PrioritizedReplay(2, (1,), alpha=1.0, eps=0.0, seed=0)
    replay.add(np.zeros((2, 1)), np.zeros(2), np.zeros(2), np.zeros((2, 1)), np.ones(2))
    replay.update_priorities(np.array([0, 1]), np.array([1.0, 3.0]))
    # P = (0.25, 0.75): w ∝ 1 / P, normalised by the batch max -> rare transition 1.0, frequent one 1/3
    mixed = 0
    for _ in range(50):
        _, idx, weights = replay.sample(4, beta=1.0)
        if set(idx.tolist()) == {0, 1}:
            mixed += 1
            np.testing.assert_allclose(weights, np.where(idx == 0, 1.0, 1 / 3), rtol=1e-6)
    assert mixed > 0


def test_n_step_returns_terminal_truncated_and_running():
    g = 0.5
    acc = dqn.NStepAccumulator(num_envs=2, n=3, gamma=g, obs_shape=(1,))
    obs = lambda t: np.array([[t], [10 + t]], dtype=np.float32)  # noqa: E731
    no = np.array([False, False])
    assert acc.push(obs(0), np.array([0, 0]), np.array([1.0, 1.0]), obs(1), no, no) is None
    assert acc.push(obs(1), np.array([1, 1]), np.array([2.0, 2.0]), obs(2), no, no) is None
    # env 0 terminates at its third step; env 1 completes a full 3-step window
    o, a, r, nxt, disc = acc.push(obs(2), np.array([2, 2]), np.array([4.0, 4.0]), obs(3),
                                  np.array([True, False]), no)
    rows = {(float(o_[0]), int(a_)): (float(r_), float(n_[0]), float(d_))
            for o_, a_, r_, n_, d_ in zip(o, a, r, nxt, disc, strict=True)}
    assert rows[(10.0, 0)] == (1 + g * 2 + g * g * 4, 13.0, g**3)  # env 1: full window, bootstraps
    assert rows[(0.0, 0)] == (1 + g * 2 + g * g * 4, 3.0, 0.0)  # env 0: terminated, no bootstrap
    assert rows[(1.0, 1)] == (2 + g * 4, 3.0, 0.0)
    assert rows[(2.0, 2)] == (4.0, 3.0, 0.0)
    assert len(rows) == 4

    # truncation flushes with bootstrapping from the final observation
    acc2 = dqn.NStepAccumulator(num_envs=1, n=3, gamma=g, obs_shape=(1,))
    no1 = np.array([False])
    acc2.push(np.array([[0.0]]), np.array([0]), np.array([1.0]), np.array([[1.0]]), no1, no1)
    o, a, r, nxt, disc = acc2.push(np.array([[1.0]]), np.array([1]), np.array([2.0]), np.array([[7.0]]),
                                   np.array([False]), np.array([True]))
    np.testing.assert_allclose(r, [1 + g * 2, 2.0])
    np.testing.assert_allclose(disc, [g**2, g])
    np.testing.assert_allclose(nxt[:, 0], [7.0, 7.0])


def test_short_run_trains_with_finite_loss_and_checkpoints(tmp_path):
    losses: list[float] = []
    result = dqn.train(_args(tmp_path), progress=False, on_update=lambda step, s: losses.append(s["loss"]))
    assert result.metrics["steps"] == 600
    assert result.metrics["gradient_steps"] == len(losses) > 50
    assert all(math.isfinite(x) for x in losses)
    assert math.isfinite(result.metrics["episodic_return_mean"])
    assert result.metrics["seconds"] > 0 and result.metrics["steps_per_second"] > 0
    assert result.checkpoint == tmp_path / "run" / "checkpoint.pt" and result.checkpoint.exists()
    assert any((tmp_path / "run" / "tb").iterdir())
    assert not result.model.training and next(result.model.parameters()).device.type == "cpu"
    q = result.model(torch.zeros(3, 4))
    assert q.shape == (3, 2) and torch.isfinite(q).all()


def test_resume_continues_the_global_step(tmp_path):
    first = dqn.train(_args(tmp_path, total_steps=500), progress=False)
    assert first.metrics["steps"] == 500
    saved = load_checkpoint(first.checkpoint)
    assert saved["global_step"] == 500
    weights_before = {k: v.clone() for k, v in first.model.state_dict().items()}

    steps_seen: list[int] = []
    second = dqn.train(_args(tmp_path, total_steps=1000), progress=False,
                       on_update=lambda step, s: steps_seen.append(step))
    assert second.metrics["steps"] == 1000
    assert load_checkpoint(second.checkpoint)["global_step"] == 1000
    # the second run started at 500 (it did not redo the first 500 steps) and trained once its buffer refilled
    assert steps_seen and min(steps_seen) > 500
    assert any(not torch.equal(weights_before[k], v) for k, v in second.model.state_dict().items())
    # epsilon continued from the global step rather than restarting at start_e
    assert second.metrics["epsilon"] == pytest.approx(
        max(0.05, 1.0 - (1.0 - 0.05) * 1000 / (0.5 * 1000)))


def test_resume_past_total_steps_does_nothing(tmp_path):
    dqn.train(_args(tmp_path, total_steps=300), progress=False)
    again = dqn.train(_args(tmp_path, total_steps=300), progress=False)
    assert again.metrics["steps"] == 300 and again.metrics["gradient_steps"] == 0


def _first_losses(tmp_path, name: str, seed: int, count: int = 200) -> list[float]:
    losses: list[float] = []
    args = _args(tmp_path, run_dir=tmp_path / name, seed=seed, total_steps=300 + 2 * count, learning_starts=200,
                 train_frequency=2, checkpoint_every=10_000)
    dqn.train(args, progress=False, on_update=lambda step, s: losses.append(s["loss"]))
    assert len(losses) >= count
    return losses[:count]


def test_same_seed_same_losses(tmp_path):
    a = _first_losses(tmp_path, "a", seed=5)
    b = _first_losses(tmp_path, "b", seed=5)
    c = _first_losses(tmp_path, "c", seed=6)
    assert a == b
    assert a != c


def test_allowed_actions_restrict_the_choice(tmp_path):
    result = dqn.train(_args(tmp_path, total_steps=200, allowed_actions=(1,), learning_starts=100), progress=False)
    # with only "push right" allowed CartPole falls within a few dozen steps: short episodes
    assert result.metrics["episodic_length_mean"] < 40
    assert result.model(torch.zeros(1, 4)).shape == (1, 2)  # the network still has every action's output


def _greedy_return(model: torch.nn.Module, seed: int, episodes: int = 5) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    total = 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with torch.no_grad():
                action = int(model(torch.as_tensor(obs)[None]).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def test_learns_cartpole_beyond_random(tmp_path):
    # a random policy balances ~22 steps, a constant one ~9; 6k steps of DQN get the greedy policy well past both
    result = dqn.train(_args(tmp_path, total_steps=6000, num_envs=4, learning_starts=500, learning_rate=1e-3,
                             exploration_fraction=0.4, target_update_period=250, train_frequency=4,
                             hidden_sizes=(64, 64), batch_size=64, buffer_size=10_000, checkpoint_every=10_000,
                             seed=1), progress=False)
    assert _greedy_return(result.model, seed=100) > 40


def test_replay_ratio_does_not_depend_on_num_envs(tmp_path):
    counts = {}
    for frequency in (2, 8):
        args = _args(tmp_path, run_dir=tmp_path / f"f{frequency}", num_envs=4, total_steps=800, learning_starts=200,
                     train_frequency=frequency, checkpoint_every=10_000)
        counts[frequency] = dqn.train(args, progress=False).metrics["gradient_steps"]
    # 4 envs: 2 gradient steps per vector step at frequency 2, one every other vector step at frequency 8
    assert counts[2] == pytest.approx(4 * counts[8], abs=4)
    assert counts[8] == pytest.approx((800 - 200) / 8, abs=6)
