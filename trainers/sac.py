"""Soft actor-critic for Box action spaces (CleanRL style: read top to bottom).

- Actor: a Gaussian over pre-squash actions, `forward(obs) -> (mean, log_std)`; the action is
  tanh(mean + std·ε) rescaled to the env's bounds, with the tanh change-of-variables in the log-probability.
- Twin Q critics with Polyak-averaged target networks; the soft target uses the minimum of the two.
- Automatic entropy tuning: log α is learned so the policy entropy tracks −action_dim (scaled).
- Uniform replay; a truncated episode bootstraps from its final observation, a terminated one does not.

Resuming: rerunning with the same run_dir loads `<run_dir>/checkpoint.pt` (actor, critics, targets, α,
optimizers, global step, RNG states) and continues; the replay buffer restarts empty and updates resume once it
again holds `learning_starts` transitions.
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

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass
class SACArgs:
    env_id: str = "Pendulum-v1"
    """Gymnasium id of the environment (Box action space)."""
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
    """Checkpoint and TensorBoard folder; None: <AIWORLD_DATA_DIR>/runs/sac-<env>-s<seed>."""
    total_steps: int = 100_000
    """Environment steps to train for, counted over all sub-envs (one vector step = num_envs steps)."""
    num_envs: int = 1
    """Number of parallel sub-environments."""
    history: int = 0
    """k > 0: observations are the last k observations, float32[k, obs_dim] (see trainers.envs)."""
    buffer_size: int = 200_000
    """Replay capacity in transitions."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak rate of the target critics."""
    batch_size: int = 256
    """Transitions per gradient step."""
    learning_starts: int = 5_000
    """Transitions the buffer must hold before learning (actions are uniform random until then)."""
    policy_lr: float = 3e-4
    """Actor (and α) learning rate."""
    q_lr: float = 1e-3
    """Critic learning rate."""
    policy_frequency: int = 2
    """Critic updates per actor update (the actor gets that many steps at once, as in TD3-style delays)."""
    target_network_frequency: int = 1
    """Critic updates between target Polyak updates."""
    alpha: float = 0.2
    """Entropy coefficient (start value when autotuned)."""
    autotune: bool = True
    """Learn α so the policy entropy tracks target_entropy_scale · (−action_dim)."""
    target_entropy_scale: float = 1.0
    """Scale of the entropy target −action_dim."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden widths of the default actor and of the critics."""
    max_grad_norm: float = 0.0
    """Gradient clipping norm (0 disables)."""
    checkpoint_every: int = 10_000
    """Environment steps between checkpoints (one is always written at the end)."""
    log_every: int = 1_000
    """Environment steps between TensorBoard scalar writes."""


class GaussianActor(nn.Module):
    """MLP giving the mean and log standard deviation of the pre-tanh action (unit scale: bounds are the trainer's)."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, hidden_sizes: tuple[int, ...] = (256, 256)):
        super().__init__()
        in_dim = int(np.prod(obs_shape))
        width = hidden_sizes[-1]
        self.trunk = nn.Sequential(nn.Flatten(), mlp(in_dim, hidden_sizes[:-1], width), nn.ReLU())
        self.mean = nn.Linear(width, action_dim)
        self.log_std = nn.Linear(width, action_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        return self.mean(h), self.log_std(h)


class QNetwork(nn.Module):
    """Q(s, a) from the flattened observation concatenated with the (unit-scale) action."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, hidden_sizes: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.net = mlp(int(np.prod(obs_shape)) + action_dim, hidden_sizes, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs.flatten(1), action], dim=1)).squeeze(-1)


class ActionScale:
    """Maps tanh outputs in [-1, 1] to the env's Box bounds (and back)."""

    def __init__(self, space: gym.spaces.Box, device: torch.device) -> None:
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise ValueError(f"SAC needs finite action bounds, got {space}")
        self.low = np.asarray(space.low, dtype=np.float32)
        self.high = np.asarray(space.high, dtype=np.float32)
        self.scale = torch.as_tensor((self.high - self.low) / 2.0, device=device)
        self.bias = torch.as_tensor((self.high + self.low) / 2.0, device=device)

    def to_env(self, unit: torch.Tensor) -> np.ndarray:
        action = (unit * self.scale + self.bias).cpu().numpy()
        return np.clip(action, self.low, self.high)  # float rounding must not step outside the space

    def to_unit(self, action: np.ndarray) -> np.ndarray:
        scale, bias = self.scale.cpu().numpy(), self.bias.cpu().numpy()
        return np.clip((np.asarray(action, dtype=np.float32) - bias) / scale, -1.0, 1.0)


def sample_action(actor: nn.Module, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(unit action in [-1, 1], its log-probability [B], the deterministic unit action tanh(mean)).

    The log-probability is that of the squashed action in unit space; the env rescaling is a constant shift of
    log π and does not change the gradients, so the entropy target stays in unit space too.
    """
    mean, log_std = actor(obs)
    mean, log_std = mean.float(), log_std.float()
    log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
    normal = torch.distributions.Normal(mean, log_std.exp())
    pre_tanh = normal.rsample()  # reparameterised: gradients flow through the sample
    action = torch.tanh(pre_tanh)
    # log|d tanh(u)/du| = log(1 - tanh(u)^2), written in a form that is stable for large |u|
    log_prob = normal.log_prob(pre_tanh) - 2.0 * (np.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))
    return action, log_prob.sum(dim=-1), torch.tanh(mean)


def act(actor: nn.Module, obs: np.ndarray, space: gym.spaces.Box, deterministic: bool = True) -> np.ndarray:
    """Env-scale actions of a trained actor for a batch of observations (evaluation helper, CPU)."""
    scale = ActionScale(space, torch.device("cpu"))
    with torch.no_grad():
        sample, _, mean = sample_action(actor, torch.as_tensor(obs, dtype=torch.float32))
    return scale.to_env(mean if deterministic else sample)


class ReplayBuffer:
    """Uniform ring buffer of (obs, unit action, reward, next obs, terminated)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], action_dim: int, seed: int) -> None:
        self.capacity = int(capacity)
        self.rng = np.random.default_rng(seed)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros((self.capacity, action_dim), dtype=np.float32)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0
        self.size = 0

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        idx = (self.pos + np.arange(len(rewards))) % self.capacity
        self.obs[idx], self.next_obs[idx], self.actions[idx] = obs, next_obs, actions
        self.rewards[idx], self.terminated[idx] = rewards, terminated
        self.pos = int((self.pos + len(rewards)) % self.capacity)
        self.size = min(self.size + len(rewards), self.capacity)

    def sample(self, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
        idx = self.rng.integers(0, self.size, size=batch_size)
        arrays = {"obs": self.obs, "next_obs": self.next_obs, "actions": self.actions,
                  "rewards": self.rewards, "terminated": self.terminated}
        return {k: torch.as_tensor(v[idx], device=device) for k, v in arrays.items()}


def train(
    args: SACArgs,
    network_fn: NetworkFn | None = None,
    progress: bool = True,
    on_update: UpdateCallback | None = None,
) -> TrainResult:
    """Train and return the actor (eval mode, CPU). `on_update(global_step, stats)` runs after each critic update."""
    run_dir = Path(args.run_dir) if args.run_dir is not None else default_run_dir("sac", args.env_id, args.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT_NAME

    # --- seeding ---
    seed_everything(args.seed, args.torch_deterministic)
    rng = np.random.default_rng(args.seed)
    device = pick_device(args.device)
    precision = Precision(device, args.mixed_precision)

    # --- environments ---
    envs = make_vec_env(args.env_id, args.num_envs, args.seed, history=args.history, **args.env_kwargs)
    space = envs.single_action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise TypeError(f"SAC needs a 1-D Box action space, {args.env_id} has {space}")
    action_dim = int(space.shape[0])
    obs_shape = tuple(envs.single_observation_space.shape)
    scale = ActionScale(space, device)
    stats = episode_stats(envs)

    # --- networks ---
    actor = (network_fn or (lambda shape, n: GaussianActor(shape, n, args.hidden_sizes)))(obs_shape, action_dim)
    actor = actor.to(device)
    qf1, qf2, qf1_target, qf2_target = (QNetwork(obs_shape, action_dim, args.hidden_sizes).to(device) for _ in range(4))
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_optimizer = torch.optim.Adam([*qf1.parameters(), *qf2.parameters()], lr=args.q_lr)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr)
    target_entropy = -args.target_entropy_scale * action_dim
    # log α lives in a module so the checkpoint helpers treat it like the networks
    alpha_holder = nn.ParameterDict({"log_alpha": nn.Parameter(torch.tensor(float(np.log(args.alpha)), device=device))})
    alpha_optimizer = torch.optim.Adam(alpha_holder.parameters(), lr=args.policy_lr)
    models = {"actor": actor, "qf1": qf1, "qf2": qf2, "qf1_target": qf1_target, "qf2_target": qf2_target,
              "alpha": alpha_holder}
    optimizers = {"q_optimizer": q_optimizer, "actor_optimizer": actor_optimizer, "alpha_optimizer": alpha_optimizer}

    # --- resume ---
    global_step = 0
    state = load_checkpoint(checkpoint_path, map_location=device)
    if state is not None:
        global_step = restore_state(state, models=models, optimizers=optimizers, generator=rng, args=args)
        precision.load_state_dict(state["extra"].get("scaler", {}))
        stats.load_stats_state(state["extra"].get("episode_stats", {}))

    replay = ReplayBuffer(args.buffer_size, obs_shape, action_dim, seed=args.seed + global_step)
    writer = summary_writer(run_dir, purge_step=global_step)
    if global_step == 0:
        log_hparams_text(writer, args)
    logger.info("sac: %s x%d on %s, steps %d -> %d, run_dir %s", args.env_id, args.num_envs, device,
                global_step, args.total_steps, run_dir)

    def save() -> Path:
        extra = {"scaler": precision.state_dict(), "episode_stats": stats.stats_state()}
        return save_checkpoint(checkpoint_path, checkpoint_state(
            args=args, global_step=global_step, models=models, optimizers=optimizers, generator=rng, extra=extra))

    def alpha_value() -> torch.Tensor:
        return alpha_holder["log_alpha"].exp().detach()

    # --- the loop ---
    start_time, start_step = time.perf_counter(), global_step
    learn_threshold = min(max(args.learning_starts, args.batch_size), args.buffer_size)
    next_checkpoint = (global_step // args.checkpoint_every + 1) * args.checkpoint_every
    next_log = (global_step // args.log_every + 1) * args.log_every
    action_min = np.full(action_dim, np.inf, dtype=np.float32)
    action_max = np.full(action_dim, -np.inf, dtype=np.float32)
    critic_updates = 0
    last: dict[str, float] = {}
    obs, _ = envs.reset(seed=args.seed + global_step)  # a resumed run does not replay the same episodes
    bar = progress_bar(args.total_steps, min(global_step, args.total_steps), progress, "sac")
    while global_step < args.total_steps:
        if replay.size < learn_threshold:
            unit_actions = rng.uniform(-1.0, 1.0, size=(args.num_envs, action_dim)).astype(np.float32)
            env_actions = scale.to_env(torch.as_tensor(unit_actions, device=device))
        else:
            with torch.no_grad(), precision.autocast():
                sampled, _, _ = sample_action(actor, torch.as_tensor(obs, dtype=torch.float32, device=device))
            unit_actions = sampled.cpu().numpy()
            env_actions = scale.to_env(sampled)
        action_min = np.minimum(action_min, env_actions.min(axis=0))
        action_max = np.maximum(action_max, env_actions.max(axis=0))

        next_obs, rewards, terminations, truncations, infos = envs.step(env_actions)
        real_next_obs = final_observations(next_obs, infos, np.logical_or(terminations, truncations))
        replay.add(obs, unit_actions, rewards, real_next_obs, terminations.astype(np.float32))
        obs = next_obs
        global_step += args.num_envs
        bar.update(args.num_envs)

        if replay.size >= learn_threshold:
            # one critic update per environment step taken, as CleanRL does with a single env
            for _ in range(args.num_envs):
                batch = replay.sample(args.batch_size, device)
                alpha = alpha_value()
                with torch.no_grad(), precision.autocast():
                    next_action, next_log_prob, _ = sample_action(actor, batch["next_obs"])
                    next_q = torch.min(qf1_target(batch["next_obs"], next_action).float(),
                                       qf2_target(batch["next_obs"], next_action).float()) - alpha * next_log_prob
                    target = batch["rewards"] + (1.0 - batch["terminated"]) * args.gamma * next_q
                with precision.autocast():
                    q1 = qf1(batch["obs"], batch["actions"]).float()
                    q2 = qf2(batch["obs"], batch["actions"]).float()
                qf_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
                precision.step(qf_loss, q_optimizer, [*qf1.parameters(), *qf2.parameters()], args.max_grad_norm)
                critic_updates += 1
                last.update(qf_loss=float(qf_loss.item()), qf1_mean=float(q1.detach().mean().item()),
                            alpha=float(alpha.item()))

                if critic_updates % args.policy_frequency == 0:
                    for _ in range(args.policy_frequency):  # compensate for the delay
                        with precision.autocast():
                            action, log_prob, _ = sample_action(actor, batch["obs"])
                            q_pi = torch.min(qf1(batch["obs"], action).float(), qf2(batch["obs"], action).float())
                        actor_loss = (alpha_value() * log_prob - q_pi).mean()
                        precision.step(actor_loss, actor_optimizer, list(actor.parameters()), args.max_grad_norm)
                        last["actor_loss"] = float(actor_loss.item())
                        last["entropy"] = float(-log_prob.detach().mean().item())
                        if args.autotune:
                            log_alpha = alpha_holder["log_alpha"]
                            alpha_loss = -(log_alpha.exp() * (log_prob.detach() + target_entropy)).mean()
                            alpha_optimizer.zero_grad(set_to_none=True)
                            alpha_loss.backward()
                            alpha_optimizer.step()
                            last["alpha_loss"] = float(alpha_loss.item())

                if critic_updates % args.target_network_frequency == 0:
                    with torch.no_grad():
                        for net, target_net in ((qf1, qf1_target), (qf2, qf2_target)):
                            for param, t_param in zip(net.parameters(), target_net.parameters(), strict=True):
                                t_param.lerp_(param, args.tau)
                if on_update is not None:
                    on_update(global_step, dict(last))

        if global_step >= next_log:
            next_log = (global_step // args.log_every + 1) * args.log_every
            for key, value in last.items():
                writer.add_scalar(f"losses/{key}", value, global_step)
            if stats.return_queue:
                writer.add_scalar("charts/episodic_return", finite_mean(stats.return_queue), global_step)
                writer.add_scalar("charts/episodic_length", finite_mean(stats.length_queue), global_step)
                bar.set_postfix(ret=f"{finite_mean(stats.return_queue):.1f}")
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
        "critic_updates": critic_updates,
        "alpha": float(alpha_value().item()),
        # the range of env-scale actions this run sent (inf/-inf when it took no step)
        "action_min": action_min.tolist(),
        "action_max": action_max.tolist(),
        **{k: v for k, v in last.items() if k != "alpha"},
    }
    logger.info("sac done: steps %d, return %.2f, %.1f s", global_step, metrics["episodic_return_mean"], seconds)
    return TrainResult(model=to_cpu_eval(actor), metrics=metrics, checkpoint=checkpoint, run_dir=run_dir)
