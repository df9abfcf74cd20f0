"""trainers.envs: SAME_STEP vector envs, the observation-history wrapper, episode statistics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from trainers.envs import episode_stats, final_observations, make_vec_env

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _actions(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, size=n)


def test_cartpole_falls_back_to_a_same_step_sync_env():
    # gymnasium's own CartPole vector_entry_point autoresets NEXT_STEP: the trainers need SAME_STEP
    envs = make_vec_env("CartPole-v1", num_envs=3, seed=0)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert isinstance(envs.unwrapped, gym.vector.SyncVectorEnv)
    obs, _ = envs.reset()
    assert obs.shape == (3, 4)
    envs.close()


def test_first_reset_uses_the_seed():
    a, b = make_vec_env("CartPole-v1", 2, seed=7), make_vec_env("CartPole-v1", 2, seed=7)
    c = make_vec_env("CartPole-v1", 2, seed=8)
    assert np.array_equal(a.reset()[0], b.reset()[0])
    assert not np.array_equal(a.reset(seed=7)[0], c.reset()[0])


def test_history_shape_order_and_zero_padding():
    k, n = 4, 3
    plain = make_vec_env("CartPole-v1", n, seed=3)
    hist = make_vec_env("CartPole-v1", n, seed=3, history=k)
    assert hist.single_observation_space.shape == (k, 4)
    assert hist.observation_space.shape == (n, k, 4)
    p_obs, _ = plain.reset()
    h_obs, _ = hist.reset()
    assert h_obs.dtype == np.float32 and h_obs.shape == (n, k, 4)
    assert np.all(h_obs[:, :-1] == 0)
    np.testing.assert_array_equal(h_obs[:, -1], p_obs)

    rng = np.random.default_rng(0)
    seen = [p_obs.astype(np.float32)]  # per step, the plain observations (to rebuild the expected window)
    checked_done = False
    for _ in range(200):
        actions = _actions(rng, n)
        p_next, p_rew, p_term, p_trunc, p_info = plain.step(actions)
        h_next, h_rew, h_term, h_trunc, h_info = hist.step(actions)
        np.testing.assert_array_equal(p_rew, h_rew)
        dones = p_term | p_trunc
        for i in range(n):
            if dones[i]:
                # the finished episode's window ends with its final obs; the new one is zeros + first obs
                final_window = h_info["final_obs"][i]
                np.testing.assert_array_equal(final_window[-1], p_info["final_obs"][i])
                np.testing.assert_array_equal(final_window[-2], seen[-1][i])
                assert np.all(h_next[i, :-1] == 0)
                np.testing.assert_array_equal(h_next[i, -1], p_next[i])
                checked_done = True
            else:
                np.testing.assert_array_equal(h_next[i, -1], p_next[i])
                np.testing.assert_array_equal(h_next[i, -2], seen[-1][i])
        assert hist.observation_space.contains(h_next)
        seen.append(p_next.astype(np.float32))
    assert checked_done, "no episode ended in 200 random CartPole steps"


def test_history_window_holds_oldest_first_within_an_episode():
    hist = make_vec_env("Pendulum-v1", 1, seed=0, history=3)  # Pendulum never terminates early (200 steps)
    plain = make_vec_env("Pendulum-v1", 1, seed=0)
    first = plain.reset()[0][0]
    hist.reset()
    action = np.zeros((1, 1), dtype=np.float32)
    second = plain.step(action)[0][0]
    third = plain.step(action)[0][0]
    hist.step(action)
    window = hist.step(action)[0][0]
    np.testing.assert_array_equal(window, np.stack([first, second, third]))


def test_episode_stats_record_returns_and_lengths():
    envs = make_vec_env("CartPole-v1", 2, seed=1)
    envs.reset()
    rng = np.random.default_rng(1)
    lengths = np.zeros(2, dtype=int)
    finished: list[int] = []
    while len(finished) < 5:
        _, _, term, trunc, info = envs.step(_actions(rng, 2))
        lengths += 1
        for i in np.flatnonzero(term | trunc):
            assert info["_episode"][i]
            assert info["episode"]["l"][i] == lengths[i]
            finished.append(int(lengths[i]))
            lengths[i] = 0
    stats = episode_stats(envs)
    assert list(stats.length_queue) == finished[: len(stats.length_queue)]
    assert list(stats.return_queue) == [float(x) for x in stats.length_queue]  # CartPole: +1 per step
    assert stats.episode_count == len(finished)


def test_final_observations_handles_object_and_dense_forms():
    next_obs = np.zeros((3, 2), dtype=np.float32)
    dones = np.array([False, True, False])
    obj = np.array([None, np.array([1.0, 2.0], dtype=np.float32), None], dtype=object)
    dense = np.array([[9, 9], [1, 2], [9, 9]], dtype=np.float32)
    for final in (obj, dense):
        real = final_observations(next_obs, {"final_obs": final, "_final_obs": dones}, dones)
        np.testing.assert_array_equal(real, [[0, 0], [1, 2], [0, 0]])
    assert np.all(next_obs == 0)  # not modified in place


def _arena_or_skip():
    try:
        from trainers.arena import scenario_names
    except ImportError:
        pytest.skip("the arena (Part A, trainers.arena) is not importable yet")
    names = scenario_names(split="train")
    return "open_field" if "open_field" in names else names[0]


def test_arena_vector_env_with_history():
    scenario = _arena_or_skip()
    envs = make_vec_env("aiworld/Arena-v0", num_envs=4, seed=0, history=10, scenario=scenario,
                        archetype="aggressive")
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = envs.reset()
    assert obs.shape == (4, 10, 64) and obs.dtype == np.float32
    assert np.all(obs[:, :-1] == 0)
    rng = np.random.default_rng(0)
    for step in range(1, 6):
        obs, *_ = envs.step(rng.integers(0, 10, size=4))
        assert np.all(obs[:, : -1 - step] == 0)  # still nothing before the episode's first step
    assert envs.observation_space.contains(obs)
    envs.close()


def test_trainers_run_on_the_arena(tmp_path):
    from trainers import ppo, sac

    scenario = _arena_or_skip()
    kw = {"env_kwargs": {"scenario": scenario, "archetype": "aggressive"}, "device": "cpu", "num_envs": 4}
    result = ppo.train(ppo.PPOArgs(env_id="aiworld/Arena-v0", total_steps=512, num_steps=64, run_dir=tmp_path / "p",
                                   allowed_actions=(0, 1, 2, 3, 4, 9), **kw), progress=False)
    assert result.metrics["steps"] == 512 and result.metrics["entropy"] <= np.log(6) + 1e-4
    result = sac.train(sac.SACArgs(env_id="aiworld/ArenaMove-v0", total_steps=200, learning_starts=100, batch_size=32,
                                   hidden_sizes=(32, 32), run_dir=tmp_path / "s", **kw), progress=False)
    assert result.metrics["steps"] == 200 and max(result.metrics["action_max"]) <= 1.0

class _DenseFinalObsVecEnv(gym.vector.VectorEnv):
    """A native SAME_STEP vector env (as the arena's is) giving `final_obs` as a dense array; episodes last 4 steps,
    the observation is the step count / 4 in every slot."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 2, width: int = 5):
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, (width,), np.float32)
        self.single_action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.t = np.zeros(num_envs, dtype=int)
        self.width = width

    def _obs(self) -> np.ndarray:
        return np.repeat((self.t / 4.0)[:, None], self.width, axis=1).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        self.t[:] = 0
        return self._obs(), {}

    def step(self, actions):
        self.t += 1
        done = self.t >= 4
        final = self._obs()
        self.t[done] = 0
        infos = {"final_obs": final, "_final_obs": done.copy()} if done.any() else {}
        return self._obs(), np.asarray(actions, dtype=np.float64), done, np.zeros_like(done), infos


gym.register("TestDenseFinalObs-v0", entry_point=None, vector_entry_point=_DenseFinalObsVecEnv)


def test_native_same_step_vector_env_is_used_and_wrapped():
    envs = make_vec_env("TestDenseFinalObs-v0", num_envs=3, seed=0, history=2)
    assert isinstance(envs.unwrapped, _DenseFinalObsVecEnv)
    obs, _ = envs.reset()
    assert obs.shape == (3, 2, 5)
    for _ in range(3):
        obs, *_ = envs.step(np.ones(3, dtype=np.int64))
    np.testing.assert_allclose(obs[:, :, 0], [[0.5, 0.75]] * 3)
    obs, rewards, term, _, info = envs.step(np.full(3, 2))
    assert term.all()
    np.testing.assert_allclose(info["final_obs"][0][:, 0], [0.75, 1.0])  # dense final obs, wrapped
    np.testing.assert_allclose(obs[:, :, 0], [[0.0, 0.0]] * 3)  # zeros + the first obs (0) of the next episode
    assert info["episode"]["r"].tolist() == [5.0, 5.0, 5.0] and info["episode"]["l"].tolist() == [4, 4, 4]
