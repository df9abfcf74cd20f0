"""Dueling double DQN with proportional prioritized replay and n-step returns (CleanRL style: read top to bottom).

- Double DQN: the online network picks the next action, the target network values it.
- Dueling head (default network): Q = V + A - mean(A).
- Prioritized replay (Schaul et al. 2016, proportional): P(i) ∝ p_i^alpha with p_i = |TD error| + eps, kept in
  a numpy sum-tree; importance-sampling weights (N·P(i))^-beta, normalised by the batch maximum, with beta
  annealed linearly to `per_beta_end` over the run.
- n-step returns: R = Σ_{i<m} γ^i r_i, bootstrapped with γ^m · Q_target(s_m) unless the episode terminated
  (a truncated episode bootstraps from its final observation).

Resuming: rerunning with the same run_dir loads `<run_dir>/checkpoint.pt` (networks, optimizer, global step,
RNG states, recent episode stats) and continues. The replay buffer is NOT checkpointed: it restarts empty and
learning resumes once it again holds `learning_starts` transitions (epsilon continues from the global step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainers.common import (
    CHECKPOINT_NAME,
    Precision,
    TrainResult,
    checkpoint_state,
    default_run_dir,
    finite_mean,
    linear_schedule,
    load_checkpoint,
    log_hparams_text,
    logger,
    mlp,
    pick_device,
    progress_bar,
    restore_state,
    save_checkpoint,
    seed_everything,
    summary_writer,
    to_cpu_eval,
)
from trainers.envs import episode_stats, final_observations, make_vec_env

NetworkFn = Callable[[tuple[int, ...], int], nn.Module]
UpdateCallback = Callable[[int, dict[str, float]], None]


@dataclass
class DQNArgs:
    env_id: str = "CartPole-v1"
    """Gymnasium id of the environment (Discrete action space)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the environment (e.g. {"scenario": ..., "archetype": ...} for the arena)."""
    seed: int = 1
    """Seed for python, numpy, torch and the environments."""
    torch_deterministic: bool = True
    """Set torch.backends.cudnn.deterministic (and turn cuDNN benchmarking off)."""
    device: str | None = None
    """"cpu", "cuda", "cuda:N"; None or "auto": CUDA when available."""
    mixed_precision: bool = True
    """Autocast on CUDA (bf16, or fp16 with loss scaling); ignored on the CPU."""
    run_dir: Path | None = None
    """Checkpoint and TensorBoard folder; None: <AIWORLD_DATA_DIR>/runs/dqn-<env>-s<seed>."""
    total_steps: int = 100_000
    """Environment steps to train for, counted over all sub-envs (one vector step = num_envs steps)."""
    num_envs: int = 4
    """Number of parallel sub-environments."""
    history: int = 0
    """k > 0: observations are the last k observations, float32[k, obs_dim] (see trainers.envs)."""
    learning_rate: float = 2.5e-4
    """Adam learning rate."""
    buffer_size: int = 100_000
    """Replay capacity in transitions (rounded up to a power of two for the sum-tree)."""
    gamma: float = 0.99
    """Discount factor."""
    n_step: int = 3
    """Steps in the n-step return."""
    tau: float = 1.0
    """Target update rate: 1.0 copies the online network, < 1 is a Polyak average."""
    target_update_period: int = 500
    """Environment steps between target network updates."""
    batch_size: int = 128
    """Transitions per gradient step."""
    start_e: float = 1.0
    """Initial exploration epsilon."""
    end_e: float = 0.05
    """Final exploration epsilon."""
    exploration_fraction: float = 0.5
    """Fraction of total_steps over which epsilon decays linearly from start_e to end_e."""
    learning_starts: int = 1_000
    """Transitions the replay buffer must hold before learning starts (again, after a resume)."""
    train_frequency: int = 4
    """Environment steps (over all sub-envs) per training round; with num_envs > train_frequency several rounds
    run after one vector step, so the replay ratio does not depend on num_envs."""
    gradient_steps: int = 1
    """Gradient steps per training round."""
    max_grad_norm: float = 10.0
    """Gradient clipping norm (0 disables)."""
    per_alpha: float = 0.6
    """Prioritization exponent alpha (0 = uniform replay)."""
    per_beta_start: float = 0.4
    """Initial importance-sampling exponent beta."""
    per_beta_end: float = 1.0
    """Beta at the end of training (annealed linearly over total_steps)."""
    per_eps: float = 1e-6
    """Added to |TD error| so no transition gets zero priority."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Hidden layer widths of the default dueling MLP."""
    allowed_actions: tuple[int, ...] | None = None
    """Optional subset of actions (indices of the Q output) the agent may choose; the others are never chosen
    nor used as bootstrap targets."""
    checkpoint_every: int = 10_000
    """Environment steps between checkpoints (one is always written at the end)."""
    log_every: int = 1_000
    """Environment steps between TensorBoard scalar writes."""


class DuelingMLP(nn.Module):
    """Q(s, ·) = V(s) + A(s, ·) − mean A(s, ·) over a shared MLP trunk; flattens any observation shape."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden_sizes: tuple[int, ...] = (128, 128)):
        super().__init__()
        in_dim = int(np.prod(obs_shape))
        width = hidden_sizes[-1]
        self.trunk = nn.Sequential(nn.Flatten(), mlp(in_dim, hidden_sizes[:-1], width), nn.ReLU())
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.trunk(obs)
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(dim=1, keepdim=True)


class SumTree:
    """Binary tree of priorities in one numpy array: leaf i at index capacity + i, node j = children 2j + 2j+1.

    Updates and stratified sampling are vectorised over the batch, one python loop iteration per tree level.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = 1 << max(0, int(capacity - 1).bit_length())  # next power of two
        self.depth = self.capacity.bit_length() - 1
        self.tree = np.zeros(2 * self.capacity, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        nodes = np.asarray(indices, dtype=np.int64) + self.capacity
        self.tree[nodes] = priorities  # with duplicate indices the last write wins, as sequential updates would
        for _ in range(self.depth):  # recompute the changed parents, level by level up to the root
            nodes = np.unique(nodes // 2)
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaf indices whose cumulative-priority interval contains each value in [0, total)."""
        values = np.array(values, dtype=np.float64)
        nodes = np.ones(len(values), dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = self.tree[left]
            go_right = values >= left_sum
            values = np.where(go_right, values - left_sum, values)
            nodes = left + go_right
        return nodes - self.capacity

    def leaves(self, indices: np.ndarray) -> np.ndarray:
        return self.tree[np.asarray(indices, dtype=np.int64) + self.capacity]


class PrioritizedReplay:
    """Ring buffer of n-step transitions (obs, action, n-step return, next obs, bootstrap discount)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], alpha: float, eps: float, seed: int) -> None:
        self.tree = SumTree(capacity)
        self.capacity = self.tree.capacity
        self.alpha, self.eps = alpha, eps
        self.rng = np.random.default_rng(seed)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.returns = np.zeros(self.capacity, dtype=np.float32)
        self.discounts = np.zeros(self.capacity, dtype=np.float32)  # γ^m, or 0 when the episode terminated
        self.max_priority = 1.0  # new transitions get the largest priority seen, so each is replayed soon
        self.pos = 0
        self.size = 0

    def add(self, obs, actions, returns, next_obs, discounts) -> None:
        count = len(actions)
        if count == 0:
            return
        idx = (self.pos + np.arange(count)) % self.capacity
        self.obs[idx], self.next_obs[idx] = obs, next_obs
        self.actions[idx], self.returns[idx], self.discounts[idx] = actions, returns, discounts
        self.tree.update(idx, np.full(count, self.max_priority**self.alpha))
        self.pos = int((self.pos + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int, beta: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Stratified proportional sampling: one draw in each of batch_size equal slices of the total priority."""
        total = self.tree.total
        bounds = np.arange(batch_size, dtype=np.float64) * (total / batch_size)
        values = np.minimum(bounds + self.rng.random(batch_size) * (total / batch_size), np.nextafter(total, 0))
        idx = np.minimum(self.tree.find(values), self.size - 1)  # float rounding could land past the last leaf
        probs = self.tree.leaves(idx) / total
        weights = (self.size * np.maximum(probs, 1e-12)) ** (-beta)
        weights /= weights.max()
        batch = {
            "obs": self.obs[idx],
            "actions": self.actions[idx],
            "returns": self.returns[idx],
            "next_obs": self.next_obs[idx],
            "discounts": self.discounts[idx],
        }
        return batch, idx, weights.astype(np.float32)

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(td_errors) + self.eps
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(idx, priorities**self.alpha)


class NStepAccumulator:
    """Per sub-env window of the last n (obs, action, reward); turns it into n-step transitions.

    A full window emits its oldest entry each step; a finished episode flushes its whole window with shorter
    returns (bootstrapping from the final observation only when the episode was truncated, not terminated).
    """

    def __init__(self, num_envs: int, n: int, gamma: float, obs_shape: tuple[int, ...]) -> None:
        self.n, self.gamma = n, gamma
        self.obs = np.zeros((num_envs, n, *obs_shape), dtype=np.float32)
        self.actions = np.zeros((num_envs, n), dtype=np.int64)
        self.rewards = np.zeros((num_envs, n), dtype=np.float64)
        self.count = np.zeros(num_envs, dtype=np.int64)
        self.powers = gamma ** np.arange(n + 1)

    def push(self, obs, actions, rewards, real_next_obs, terminations, truncations):
        envs = np.arange(len(actions))
        self.obs[envs, self.count] = obs
        self.actions[envs, self.count] = actions
        self.rewards[envs, self.count] = rewards
        self.count += 1
        dones = np.logical_or(terminations, truncations)
        out: list[tuple] = []

        full = np.flatnonzero((self.count == self.n) & ~dones)
        if len(full):
            returns = self.rewards[full] @ self.powers[: self.n]
            out.append((self.obs[full, 0], self.actions[full, 0], returns, real_next_obs[full],
                        np.full(len(full), self.powers[self.n])))
            self.obs[full, :-1] = self.obs[full, 1:]
            self.actions[full, :-1] = self.actions[full, 1:]
            self.rewards[full, :-1] = self.rewards[full, 1:]
            self.count[full] -= 1

        for e in np.flatnonzero(dones):
            m = int(self.count[e])
            rewards_e = self.rewards[e, :m]
            # entry j's return covers steps j..m-1 and bootstraps after m - j steps
            returns = np.array([rewards_e[j:] @ self.powers[: m - j] for j in range(m)])
            alive = 0.0 if terminations[e] else 1.0
            discounts = alive * self.powers[m - np.arange(m)]
            out.append((self.obs[e, :m], self.actions[e, :m], returns,
                        np.repeat(real_next_obs[e][None], m, axis=0), discounts))
            self.count[e] = 0

        if not out:
            return None
        return tuple(np.concatenate([part[k] for part in out]) for k in range(5))


def _action_mask(n_actions: int, allowed: tuple[int, ...] | None, device: torch.device) -> torch.Tensor | None:
    if allowed is None:
        return None
    mask = torch.zeros(n_actions, dtype=torch.bool, device=device)
    mask[list(allowed)] = True
    return mask


def _masked(q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return q if mask is None else q.masked_fill(~mask, float("-inf"))


def train(
    args: DQNArgs,
    network_fn: NetworkFn | None = None,
    progress: bool = True,
    on_update: UpdateCallback | None = None,
) -> TrainResult:
    """Train and return the online Q-network (eval mode, CPU).

    `on_update(global_step, stats)` (optional) is called after every gradient step with the loss and friends;
    the tests use it to compare runs.
    """
    run_dir = Path(args.run_dir) if args.run_dir is not None else default_run_dir("dqn", args.env_id, args.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT_NAME

    # --- seeding ---
    seed_everything(args.seed, args.torch_deterministic)
    rng = np.random.default_rng(args.seed)
    device = pick_device(args.device)
    precision = Precision(device, args.mixed_precision)

    # --- environments ---
    envs = make_vec_env(args.env_id, args.num_envs, args.seed, history=args.history, **args.env_kwargs)
    if not isinstance(envs.single_action_space, gym.spaces.Discrete):
        raise TypeError(f"DQN needs a Discrete action space, {args.env_id} has {envs.single_action_space}")
    n_actions = int(envs.single_action_space.n)
    action_start = int(envs.single_action_space.start)
    obs_shape = tuple(envs.single_observation_space.shape)
    stats = episode_stats(envs)

    # --- networks ---
    make_net = network_fn or (lambda shape, n: DuelingMLP(shape, n, args.hidden_sizes))
    q_network = make_net(obs_shape, n_actions).to(device)
    target_network = make_net(obs_shape, n_actions).to(device)
    target_network.load_state_dict(q_network.state_dict())
    target_network.eval()
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    mask = _action_mask(n_actions, args.allowed_actions, device)
    allowed = np.array(args.allowed_actions if args.allowed_actions is not None else range(n_actions))

    # --- resume ---
    global_step = 0
    state = load_checkpoint(checkpoint_path, map_location=device)
    if state is not None:
        global_step = restore_state(
            state, models={"q_network": q_network, "target_network": target_network},
            optimizers={"optimizer": optimizer}, generator=rng, args=args,
        )
        precision.load_state_dict(state["extra"].get("scaler", {}))
        stats.load_stats_state(state["extra"].get("episode_stats", {}))

    replay = PrioritizedReplay(args.buffer_size, obs_shape, args.per_alpha, args.per_eps, seed=args.seed + global_step)
    nstep = NStepAccumulator(args.num_envs, args.n_step, args.gamma, obs_shape)
    writer = summary_writer(run_dir, purge_step=global_step)
    if global_step == 0:
        log_hparams_text(writer, args)
    logger.info("dqn: %s x%d on %s, steps %d -> %d, run_dir %s", args.env_id, args.num_envs, device,
                global_step, args.total_steps, run_dir)

    def save() -> Path:
        extra = {"scaler": precision.state_dict(), "episode_stats": stats.stats_state()}
        return save_checkpoint(checkpoint_path, checkpoint_state(
            args=args, global_step=global_step, models={"q_network": q_network, "target_network": target_network},
            optimizers={"optimizer": optimizer}, generator=rng, extra=extra))

    # --- the loop ---
    start_time, start_step = time.perf_counter(), global_step
    untrained_steps = 0  # environment steps not yet paid for with a training round
    learn_threshold = min(max(args.learning_starts, args.batch_size), replay.capacity)
    next_checkpoint = (global_step // args.checkpoint_every + 1) * args.checkpoint_every
    next_log = (global_step // args.log_every + 1) * args.log_every
    next_target = (global_step // args.target_update_period + 1) * args.target_update_period
    loss_sum, loss_count = 0.0, 0
    last: dict[str, float] = {}
    obs, _ = envs.reset(seed=args.seed + global_step)  # a resumed run does not replay the same episodes
    bar = progress_bar(args.total_steps, min(global_step, args.total_steps), progress, "dqn")
    while global_step < args.total_steps:
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_steps, global_step)
        with torch.no_grad(), precision.autocast():
            q = _masked(q_network(torch.as_tensor(obs, dtype=torch.float32, device=device)).float(), mask)
        actions = q.argmax(dim=1).cpu().numpy()
        explore = rng.random(args.num_envs) < epsilon
        actions = np.where(explore, rng.choice(allowed, size=args.num_envs), actions)

        next_obs, rewards, terminations, truncations, infos = envs.step(actions + action_start)
        real_next_obs = final_observations(next_obs, infos, np.logical_or(terminations, truncations))
        transitions = nstep.push(obs, actions, rewards, real_next_obs, terminations, truncations)
        if transitions is not None:
            replay.add(*transitions)
        obs = next_obs
        global_step += args.num_envs
        bar.update(args.num_envs)

        rounds = 0
        if replay.size >= learn_threshold:
            untrained_steps += args.num_envs
            rounds, untrained_steps = divmod(untrained_steps, max(1, args.train_frequency))
        if rounds:
            beta = linear_schedule(args.per_beta_start, args.per_beta_end, args.total_steps, global_step)
            for _ in range(rounds * args.gradient_steps):
                batch, idx, weights = replay.sample(args.batch_size, beta)
                b_obs = torch.as_tensor(batch["obs"], device=device)
                b_next = torch.as_tensor(batch["next_obs"], device=device)
                b_actions = torch.as_tensor(batch["actions"], device=device)
                with torch.no_grad(), precision.autocast():
                    # double DQN: the online net chooses, the target net evaluates
                    next_actions = _masked(q_network(b_next).float(), mask).argmax(dim=1, keepdim=True)
                    next_q = target_network(b_next).float().gather(1, next_actions).squeeze(1)
                    target = (torch.as_tensor(batch["returns"], device=device)
                              + torch.as_tensor(batch["discounts"], device=device) * next_q)
                with precision.autocast():
                    q_taken = q_network(b_obs).float().gather(1, b_actions[:, None]).squeeze(1)
                td = target - q_taken
                loss = (torch.as_tensor(weights, device=device) * F.smooth_l1_loss(
                    q_taken, target, reduction="none")).mean()
                grad_norm = precision.step(loss, optimizer, list(q_network.parameters()), args.max_grad_norm)
                replay.update_priorities(idx, td.detach().abs().cpu().numpy())
                last = {"loss": float(loss.item()), "q_mean": float(q_taken.detach().mean().item()),
                        "td_abs_mean": float(td.detach().abs().mean().item()), "grad_norm": grad_norm,
                        "epsilon": epsilon, "beta": beta}
                loss_sum, loss_count = loss_sum + last["loss"], loss_count + 1
                if on_update is not None:
                    on_update(global_step, dict(last))

        if global_step >= next_target:
            next_target = (global_step // args.target_update_period + 1) * args.target_update_period
            with torch.no_grad():
                for t_param, param in zip(target_network.parameters(), q_network.parameters(), strict=True):
                    t_param.lerp_(param, args.tau)  # tau = 1 copies

        if global_step >= next_log:
            next_log = (global_step // args.log_every + 1) * args.log_every
            for key, value in last.items():
                writer.add_scalar(f"losses/{key}" if key != "epsilon" else "charts/epsilon", value, global_step)
            if stats.return_queue:
                writer.add_scalar("charts/episodic_return", finite_mean(stats.return_queue), global_step)
                writer.add_scalar("charts/episodic_length", finite_mean(stats.length_queue), global_step)
                bar.set_postfix(ret=f"{finite_mean(stats.return_queue):.1f}", eps=f"{epsilon:.2f}")
            elapsed = time.perf_counter() - start_time
            writer.add_scalar("charts/SPS", (global_step - start_step) / max(elapsed, 1e-9), global_step)

        if global_step >= next_checkpoint:
            next_checkpoint = (global_step // args.checkpoint_every + 1) * args.checkpoint_every
            save()

    bar.close()
    seconds = time.perf_counter() - start_time
    checkpoint = save()
    writer.flush()
    writer.close()
    envs.close()
    metrics = {
        "episodic_return_mean": finite_mean(stats.return_queue),
        "episodic_length_mean": finite_mean(stats.length_queue),
        "episodes": stats.episode_count,
        "steps": global_step,
        "seconds": seconds,
        "steps_per_second": (global_step - start_step) / max(seconds, 1e-9),
        "loss": last.get("loss", float("nan")),
        "loss_mean": loss_sum / loss_count if loss_count else float("nan"),
        "gradient_steps": loss_count,
        "epsilon": linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_steps, global_step),
    }
    logger.info("dqn done: %s", {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()})
    return TrainResult(model=to_cpu_eval(q_network), metrics=metrics, checkpoint=checkpoint, run_dir=run_dir)

