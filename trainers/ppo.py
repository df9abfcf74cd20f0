"""Proximal policy optimisation for Discrete actions (CleanRL style: read top to bottom).

Rollouts of `num_steps` vector steps, generalised advantage estimation, clipped surrogate objective, clipped
value loss, entropy bonus, per-minibatch advantage normalisation, linear learning-rate annealing, optional
early stop on approximate KL. `allowed_actions` restricts the policy to a subset of actions: the other logits
are set to −inf, so they are never sampled and carry no probability; the env receives the chosen action id.

SAME_STEP autoreset: the `done` flag of step t closes the episode of the transition taken at t, so GAE cuts
the bootstrap at t. A truncated (not terminated) episode still bootstraps: γ·V(final_obs) is added to its last
reward.

Resuming: rerunning with the same run_dir loads `<run_dir>/checkpoint.pt` and continues at the saved global
step (the interrupted rollout is collected afresh).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

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
from trainers.envs import episode_stats, make_vec_env

NetworkFn = Callable[[tuple[int, ...], int], nn.Module]
UpdateCallback = Callable[[int, dict[str, float]], None]


@dataclass
class PPOArgs:
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
    """Checkpoint and TensorBoard folder; None: <AIWORLD_DATA_DIR>/runs/ppo-<env>-s<seed>."""
    total_steps: int = 500_000
    """Environment steps to train for, counted over all sub-envs (rounded up to whole rollouts)."""
    num_envs: int = 8
    """Number of parallel sub-environments."""
    history: int = 0
    """k > 0: observations are the last k observations, float32[k, obs_dim] (see trainers.envs)."""
    num_steps: int = 128
    """Vector steps per rollout (a rollout holds num_envs * num_steps transitions)."""
    learning_rate: float = 2.5e-4
    """Adam learning rate (start value when annealed)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over total_steps."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    num_minibatches: int = 4
    """Minibatches per epoch over the rollout."""
    update_epochs: int = 4
    """Optimisation epochs per rollout."""
    norm_adv: bool = True
    """Normalise advantages within each minibatch."""
    clip_coef: float = 0.2
    """Surrogate clipping coefficient (also used for the value clip)."""
    clip_vloss: bool = True
    """Clip the value loss around the rollout's value estimates."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient clipping norm (0 disables)."""
    target_kl: float | None = None
    """Stop the epochs of an update early once the approximate KL exceeds this (None: never)."""
    allowed_actions: tuple[int, ...] | None = None
    """Optional subset of action ids the policy may choose; the other logits are masked to −inf."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the default actor and critic MLPs."""
    checkpoint_every: int = 50_000
    """Environment steps between checkpoints (one is always written at the end)."""


def _layer_init(layer: nn.Module, std: float) -> None:
    if isinstance(layer, nn.Linear):
        nn.init.orthogonal_(layer.weight, std)
        nn.init.zeros_(layer.bias)


class ActorCritic(nn.Module):
    """Separate tanh MLPs for the policy logits and the state value (orthogonal init, small policy head)."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden_sizes: tuple[int, ...] = (64, 64)):
        super().__init__()
        in_dim = int(np.prod(obs_shape))
        self.actor = nn.Sequential(nn.Flatten(), mlp(in_dim, hidden_sizes, n_actions, nn.Tanh))
        self.critic = nn.Sequential(nn.Flatten(), mlp(in_dim, hidden_sizes, 1, nn.Tanh))
        for net, head_std in ((self.actor, 0.01), (self.critic, 1.0)):
            linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
            for layer in linears[:-1]:
                _layer_init(layer, math.sqrt(2))
            _layer_init(linears[-1], head_std)  # near-uniform initial policy

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)


def _value(network: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    value = network.value(obs).float()
    return value.reshape(value.shape[0])  # tolerate [B, 1] from a custom network


def _distribution(network: nn.Module, obs: torch.Tensor, mask: torch.Tensor | None) -> Categorical:
    logits = network(obs).float()  # float32 distribution maths even under autocast
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return Categorical(logits=logits)


def train(
    args: PPOArgs,
    network_fn: NetworkFn | None = None,
    progress: bool = True,
    on_update: UpdateCallback | None = None,
) -> TrainResult:
    """Train and return the actor-critic (eval mode, CPU). `on_update(global_step, stats)` runs after each update."""
    run_dir = Path(args.run_dir) if args.run_dir is not None else default_run_dir("ppo", args.env_id, args.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT_NAME

    # --- seeding ---
    seed_everything(args.seed, args.torch_deterministic)
    device = pick_device(args.device)
    precision = Precision(device, args.mixed_precision)

    # --- environments ---
    envs = make_vec_env(args.env_id, args.num_envs, args.seed, history=args.history, **args.env_kwargs)
    if not isinstance(envs.single_action_space, gym.spaces.Discrete):
        raise TypeError(f"PPO needs a Discrete action space, {args.env_id} has {envs.single_action_space}")
    n_actions = int(envs.single_action_space.n)
    action_start = int(envs.single_action_space.start)
    obs_shape = tuple(envs.single_observation_space.shape)
    stats = episode_stats(envs)

    mask = None
    if args.allowed_actions is not None:
        bad = [a for a in args.allowed_actions if not 0 <= a - action_start < n_actions]
        if bad or not args.allowed_actions:
            raise ValueError(f"allowed_actions {args.allowed_actions} not within the {n_actions} actions")
        mask = torch.zeros(n_actions, dtype=torch.bool, device=device)
        mask[[a - action_start for a in args.allowed_actions]] = True

    # --- network ---
    network = (network_fn or (lambda shape, n: ActorCritic(shape, n, args.hidden_sizes)))(obs_shape, n_actions)
    network = network.to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=args.learning_rate, eps=1e-5)

    # --- resume ---
    global_step = 0
    state = load_checkpoint(checkpoint_path, map_location=device)
    if state is not None:
        global_step = restore_state(state, models={"network": network}, optimizers={"optimizer": optimizer}, args=args)
        precision.load_state_dict(state["extra"].get("scaler", {}))
        stats.load_stats_state(state["extra"].get("episode_stats", {}))

    writer = summary_writer(run_dir, purge_step=global_step)
    if global_step == 0:
        log_hparams_text(writer, args)
    logger.info("ppo: %s x%d on %s, steps %d -> %d, run_dir %s", args.env_id, args.num_envs, device,
                global_step, args.total_steps, run_dir)

    def save() -> Path:
        extra = {"scaler": precision.state_dict(), "episode_stats": stats.stats_state()}
        return save_checkpoint(checkpoint_path, checkpoint_state(
            args=args, global_step=global_step, models={"network": network}, optimizers={"optimizer": optimizer},
            extra=extra))

    # --- rollout storage ---
    T, N = args.num_steps, args.num_envs
    batch_size = T * N
    minibatch_size = max(1, batch_size // args.num_minibatches)
    obs_buf = torch.zeros((T, N, *obs_shape), device=device)
    actions_buf = torch.zeros((T, N), dtype=torch.long, device=device)
    logprobs_buf = torch.zeros((T, N), device=device)
    rewards_buf = torch.zeros((T, N), device=device)
    dones_buf = torch.zeros((T, N), device=device)
    values_buf = torch.zeros((T, N), device=device)

    start_time, start_step = time.perf_counter(), global_step
    next_checkpoint = (global_step // args.checkpoint_every + 1) * args.checkpoint_every
    last: dict[str, float] = {}
    updates = 0
    next_obs, _ = envs.reset(seed=args.seed + global_step)  # a resumed run does not replay the same episodes
    next_obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device)
    bar = progress_bar(args.total_steps, min(global_step, args.total_steps), progress, "ppo")
    while global_step < args.total_steps:
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * max(0.0, 1.0 - global_step / args.total_steps)

        # --- collect a rollout ---
        network.eval()
        for t in range(T):
            obs_buf[t] = next_obs
            with torch.no_grad(), precision.autocast():
                dist = _distribution(network, next_obs, mask)
                action = dist.sample()
                logprobs_buf[t] = dist.log_prob(action)
                values_buf[t] = _value(network, next_obs)
            actions_buf[t] = action
            obs_np, reward, terminated, truncated, infos = envs.step(action.cpu().numpy() + action_start)
            reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
            only_truncated = np.logical_and(truncated, np.logical_not(terminated))
            if only_truncated.any():
                # a time limit is not a real end: bootstrap the cut-off tail from the final observation
                rows = np.flatnonzero(only_truncated)
                final = np.stack([np.asarray(infos["final_obs"][i], dtype=np.float32) for i in rows])
                with torch.no_grad(), precision.autocast():
                    final_value = _value(network, torch.as_tensor(final, device=device))
                reward[torch.as_tensor(rows, device=device)] += args.gamma * final_value
            rewards_buf[t] = reward
            dones_buf[t] = torch.as_tensor(np.logical_or(terminated, truncated), dtype=torch.float32, device=device)
            next_obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
            global_step += N
            bar.update(N)

        # --- generalised advantage estimation ---
        with torch.no_grad(), precision.autocast():
            next_value = _value(network, next_obs)
        advantages = torch.zeros_like(rewards_buf)
        gae = torch.zeros(N, device=device)
        for t in reversed(range(T)):
            following = next_value if t == T - 1 else values_buf[t + 1]
            not_done = 1.0 - dones_buf[t]  # step t ended its episode: nothing after it belongs to it
            delta = rewards_buf[t] + args.gamma * following * not_done - values_buf[t]
            gae = delta + args.gamma * args.gae_lambda * not_done * gae
            advantages[t] = gae
        returns = advantages + values_buf

        # --- optimise ---
        b_obs = obs_buf.reshape((batch_size, *obs_shape))
        b_actions, b_logprobs = actions_buf.reshape(-1), logprobs_buf.reshape(-1)
        b_advantages, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values_buf.reshape(-1)
        network.train()
        clipfracs: list[float] = []
        approx_kl = torch.zeros((), device=device)
        for _epoch in range(args.update_epochs):
            order = torch.randperm(batch_size, device=device)
            for start in range(0, batch_size, minibatch_size):
                mb = order[start:start + minibatch_size]
                with precision.autocast():
                    dist = _distribution(network, b_obs[mb], mask)
                    new_value = _value(network, b_obs[mb])
                new_logprob = dist.log_prob(b_actions[mb])
                entropy = dist.entropy().mean()
                log_ratio = new_logprob - b_logprobs[mb]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()  # the low-variance estimator (Schulman)
                    clipfracs.append(float(((ratio - 1.0).abs() > args.clip_coef).float().mean()))

                mb_adv = b_advantages[mb]
                if args.norm_adv and len(mb) > 1:
                    mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(
                    -mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
                ).mean()

                if args.clip_vloss:
                    v_clipped = b_values[mb] + (new_value - b_values[mb]).clamp(-args.clip_coef, args.clip_coef)
                    v_loss = 0.5 * torch.max((new_value - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((new_value - b_returns[mb]) ** 2).mean()

                loss = pg_loss - args.ent_coef * entropy + args.vf_coef * v_loss
                precision.step(loss, optimizer, list(network.parameters()), args.max_grad_norm)

            if args.target_kl is not None and approx_kl > args.target_kl:
                break
        updates += 1

        var_returns = b_returns.var()
        explained_var = float("nan") if var_returns == 0 else float(1 - (b_returns - b_values).var() / var_returns)
        last = {
            "policy_loss": float(pg_loss.item()), "value_loss": float(v_loss.item()),
            "entropy": float(entropy.item()), "approx_kl": float(approx_kl.item()),
            "clipfrac": finite_mean(clipfracs), "explained_variance": explained_var,
            "learning_rate": float(optimizer.param_groups[0]["lr"]),
        }
        for key, value in last.items():
            writer.add_scalar(f"losses/{key}" if key != "learning_rate" else "charts/learning_rate", value, global_step)
        if stats.return_queue:
            last["episodic_return_mean"] = finite_mean(stats.return_queue)
            writer.add_scalar("charts/episodic_return", last["episodic_return_mean"], global_step)
            writer.add_scalar("charts/episodic_length", finite_mean(stats.length_queue), global_step)
            bar.set_postfix(ret=f"{last['episodic_return_mean']:.1f}")
        writer.add_scalar("charts/SPS", (global_step - start_step) / max(time.perf_counter() - start_time, 1e-9),
                          global_step)
        if on_update is not None:
            on_update(global_step, dict(last))

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
        "updates": updates,
        **{k: v for k, v in last.items() if k != "episodic_return_mean"},
    }
    logger.info("ppo done: %s", {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()})
    return TrainResult(model=to_cpu_eval(network), metrics=metrics, checkpoint=checkpoint, run_dir=run_dir)


def masked_policy(
    network: nn.Module, allowed_actions: tuple[int, ...] | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Greedy action ids of a trained network under the same mask as in training (for evaluation)."""

    def act(obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits = network(obs).float()
            if allowed_actions is not None:
                keep = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
                keep[list(allowed_actions)] = True
                logits = logits.masked_fill(~keep, float("-inf"))
            return logits.argmax(dim=-1)

    return act
