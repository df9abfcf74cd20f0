"""The nine model networks of the learning stack (docs/models.md has the table).

Every network built here maps its serving input to `action_logits` float32[B, 10] in `forward`: that forward is
what gets exported to ONNX and served. `input_kind` says which input: "state" = float32[B, 64], "history" =
float32[B, 10, 64] (oldest first, zero rows where the monster was not seen yet). The other methods are what
each network's trainer needs (Q values, a value head, a Gaussian, a supervised loss).

Forwards use only ops the TorchScript ONNX exporter maps to opset 17 and no data-dependent Python control flow,
so the traced graph is valid for every batch size. Masked actions get MASKED_LOGIT, a large *finite* negative
number: softmax gives them exactly 0 in fp32 and fp16 without the inf - inf = NaN that -inf invites.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aiworld.mobs.state import HISTORY_LENGTH, MODEL_ACTIONS, STATE_SIZE, Action

MASKED_LOGIT = -1e4  # exactly representable in fp16 (max 65504); never multiply it by anything
MOVEMENT_ACTIONS = (Action.IDLE, Action.ATTACK, Action.MOVE_CLOSER, Action.MOVE_AWAY, Action.MOVE_RANDOM, Action.FLEE)
ATTACK_RADIUS = 0.3  # ArenaMove-v0: |(radial, tangential)| below this is ATTACK
SAC_LOG_STD_RANGE = (-5.0, 2.0)

MODEL_TYPES = ("combat_dqn", "movement_ppo", "skill_dqn", "threat_assessment", "team_coordination", "spatial_vit",
               "temporal_transformer", "pattern_recognition", "soft_actor_critic")
SUPERVISED_TYPES = ("threat_assessment", "team_coordination", "spatial_vit", "temporal_transformer",
                    "pattern_recognition")


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU, *,
         last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


# -- value-based: combat_dqn, skill_dqn ---------------------------------------------------------------------------

class _QNetwork(nn.Module):
    """Q values serve as logits. `temperature` (a buffer, default 1) divides them in `forward` only: the
    serving softmax then sees Q / T, so a Q scale set by the reward scale can be tempered before fusion
    without retraining. `q_values` is always the raw Q that the DQN trainer regresses."""

    input_kind = "state"

    def __init__(self, temperature: float):
        super().__init__()
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def q_values(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q_values(x) / self.temperature


def fit_temperature(q_values: torch.Tensor, confidence: float, low: float = 1e-4, high: float = 1e4) -> float:
    """The T at which softmax(Q / T) gives the greedy action `confidence` probability on average over the rows
    of q_values[N, n] (bisection on log T; the mean top probability falls as T grows). Q values at temperature
    1 follow the reward scale: a DQN whose Q gaps are ~0.05 plays as a near-uniform softmax in a fusion
    (top probability ~0.1 of 10 actions), and its greedy choice is lost among sharper members."""
    if not 1 / q_values.shape[1] < confidence < 1:
        raise ValueError(f"confidence must lie between 1/{q_values.shape[1]} and 1, got {confidence}")
    q = q_values.double()

    def mean_top(t: float) -> float:
        return float(torch.softmax(q / t, dim=1).max(dim=1).values.mean())

    if mean_top(low) <= confidence:  # ties everywhere: even the lowest temperature is not that sure
        return low
    lo, hi = math.log(low), math.log(high)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_top(math.exp(mid)) > confidence else (lo, mid)
    return math.exp((lo + hi) / 2)


class DuelingQNetwork(_QNetwork):
    """combat_dqn: Q = V(s) + A(s, a) - mean_a A(s, a) over a shared ReLU trunk."""

    model_type = "combat_dqn"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, hidden: int = 128,
                 temperature: float = 1.0):
        super().__init__(temperature)
        self.trunk = _mlp([state_size, hidden, hidden], last_activation=True)
        self.value_head = nn.Linear(hidden, 1)
        self.advantage_head = nn.Linear(hidden, n_actions)

    def q_values(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        advantage = self.advantage_head(h)
        return self.value_head(h) + advantage - advantage.mean(dim=1, keepdim=True)


class SkillEmbeddingQNetwork(_QNetwork):
    """skill_dqn: Q(s, a) = f(s) . e(a) + b(a). Each action (the three skills among them) has a learned
    embedding e(a); actions that play alike end up with near embeddings, which shares what is learned about
    one skill with the others while skills are rarely ready."""

    model_type = "skill_dqn"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, hidden: int = 128,
                 embedding_dim: int = 16, temperature: float = 1.0):
        super().__init__(temperature)
        self.encoder = _mlp([state_size, hidden, hidden // 2, embedding_dim])
        self.action_embeddings = nn.Parameter(torch.randn(n_actions, embedding_dim) / math.sqrt(embedding_dim))
        self.action_bias = nn.Parameter(torch.zeros(n_actions))

    def q_values(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.encoder(x), self.action_embeddings, self.action_bias)


# -- movement_ppo ------------------------------------------------------------------------------------------------

def _orthogonal(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class MovementActorCritic(nn.Module):
    """movement_ppo: separate tanh MLPs for actor and critic (PPO's usual layout, orthogonal init with a small
    last actor layer so the first policy is near uniform). Actions outside `allowed_actions` get MASKED_LOGIT
    in `forward`, so the exported policy can never pick them."""

    model_type = "movement_ppo"
    input_kind = "state"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, hidden: int = 64,
                 allowed_actions: Sequence[int] | None = MOVEMENT_ACTIONS):
        super().__init__()
        gain = math.sqrt(2)
        self.actor = nn.Sequential(_orthogonal(nn.Linear(state_size, hidden), gain), nn.Tanh(),
                                   _orthogonal(nn.Linear(hidden, hidden), gain), nn.Tanh(),
                                   _orthogonal(nn.Linear(hidden, n_actions), 0.01))
        self.critic = nn.Sequential(_orthogonal(nn.Linear(state_size, hidden), gain), nn.Tanh(),
                                    _orthogonal(nn.Linear(hidden, hidden), gain), nn.Tanh(),
                                    _orthogonal(nn.Linear(hidden, 1), 1.0))
        allowed = torch.ones(n_actions, dtype=torch.bool)
        if allowed_actions is not None:
            allowed[:] = False
            allowed[[int(a) for a in allowed_actions]] = True
        self.register_buffer("allowed", allowed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(self.allowed, self.actor(x), MASKED_LOGIT)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).squeeze(-1)


# -- supervised networks ------------------------------------------------------------------------------------------

def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on class ids int[B] (-1 = no label, ignored) or on probabilities float[B, C]."""
    if targets.dtype.is_floating_point:
        return F.cross_entropy(logits, targets)
    labels = targets.long()
    known = labels >= 0
    if not bool(known.any()):  # no labelled row: a zero that keeps the graph (not the NaN of an empty mean)
        return logits.sum() * 0.0
    return F.cross_entropy(logits[known], labels[known])


class _Classifier(nn.Module):
    """Supervised learning of action preferences over the 10 actions (or 11, the 11th being 255). `targets` are
    action ids int64[B] (-1 = no label) or, for distillation, teacher probabilities float[B, C] (soft
    cross-entropy). With `learns_values` set, float targets [B, C] are the teacher's values of every action
    (in units of the softmax temperature) and the logits regress them (MSE): the argmax is then the action
    the teacher values most, learned from noisy value estimates without first turning them into labels."""

    supervised_kind = "classification"
    learns_values = False

    def supervised_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self(x), None

    def action_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.learns_values:
            return F.mse_loss(logits, targets.to(logits.dtype))
        return _cross_entropy(logits, targets)

    def supervised_loss(self, x: torch.Tensor, targets: torch.Tensor,
                        aux_targets: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:
            raise ValueError(f"{type(self).__name__} learns from action targets")
        return self.action_loss(self(x), targets)

    @torch.no_grad()
    def supervised_accuracy(self, x: torch.Tensor, targets: torch.Tensor) -> float:
        labels = targets if not targets.dtype.is_floating_point else targets.argmax(dim=-1)
        known = labels >= 0
        return (self(x).argmax(dim=-1) == labels)[known].float().mean().item()


class ThreatEnsemble(nn.Module):
    """threat_assessment: 5 small MLPs, each predicting per action the HP ratio lost in the next 2 s (sigmoid:
    the target lies in [0, 1]). The logits prefer safe actions the members agree are safe:
    logits = -risk_scale * (mean + std over members). Members differ by their initialisation only."""

    model_type = "threat_assessment"
    input_kind = "state"
    supervised_kind = "regression"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, members: int = 5,
                 hidden: int = 64, risk_scale: float = 10.0):
        super().__init__()
        self.members = nn.ModuleList(_mlp([state_size, hidden, hidden, n_actions]) for _ in range(members))
        self.register_buffer("risk_scale", torch.tensor(float(risk_scale)))

    def predict_loss(self, x: torch.Tensor) -> torch.Tensor:
        """float[B, members, 10]: each member's predicted HP-ratio loss per action."""
        return torch.sigmoid(torch.stack([member(x) for member in self.members], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        loss = self.predict_loss(x)
        mean = loss.mean(dim=1)
        spread = loss - mean.unsqueeze(1)
        # the epsilon keeps the sqrt's gradient finite when all members agree exactly
        std = torch.sqrt((spread * spread).mean(dim=1) + 1e-8)
        return -self.risk_scale * (mean + std)

    def supervised_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.predict_loss(x), None

    def supervised_loss(self, x: torch.Tensor, targets: torch.Tensor,
                        aux_targets: torch.Tensor | None = None) -> torch.Tensor:
        """MSE of every member's predicted loss. Two target forms:
        - targets float[B, 10]: the loss of every action (all actions regressed);
        - targets float[B] with aux_targets int[B] = the action taken: rollouts know the loss of the taken
          action only, so only that action's prediction is regressed."""
        predicted = self.predict_loss(x)  # [B, members, actions]
        if targets.dim() == 1:
            if aux_targets is None:
                raise ValueError("targets [B] are the loss of the action taken: pass those actions as aux_targets")
            index = aux_targets.long().view(-1, 1, 1).expand(-1, predicted.shape[1], 1)
            predicted = predicted.gather(2, index).squeeze(2)  # [B, members]
        return F.mse_loss(predicted, targets.to(predicted.dtype).unsqueeze(1).expand_as(predicted))


class TeamCoordinationLSTM(_Classifier):
    """team_coordination: an LSTM over the monster's own last 10 states; logits from the last hidden state."""

    model_type = "team_coordination"
    input_kind = "history"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, hidden: int = 64):
        super().__init__()
        self.lstm = nn.LSTM(state_size, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class _Block(nn.Module):
    """A pre-norm transformer block written from plain ops. nn.TransformerEncoderLayer's eval fast path is a
    fused kernel the ONNX exporter cannot always trace; here the graph stays MatMul / Softmax /
    LayerNormalization, which the INT8 quantizer (weight MatMuls only) and the FP16 converter handle."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor | None = None, keep: int | None = None) -> torch.Tensor:
        """x float[B, T, dim] -> float[B, T, dim], or [B, 1, dim] with only token `keep` when that is given: the
        last block of a pooled encoder needs one token's output, so only that token queries: the same numbers for
        it, and about a fifth less inference for the 2-block members (docs/benchmarks.md)."""
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, T, head_dim]
        if keep is not None:
            q, x = q[:, :, keep:keep + 1 or None], x[:, keep:keep + 1 or None]  # keep=-1: [-1:]
        scores = (q * (self.head_dim ** -0.5)) @ k.transpose(-2, -1)
        if key_bias is not None:
            scores = scores + key_bias
        mixed = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, x.shape[1], d)
        x = x + self.proj(mixed)
        return x + self.mlp(self.norm2(x))


class SpatialViT(_Classifier):
    """spatial_vit: the 64-value state as 8 patches of 8 consecutive values (the protocol has no tile patch:
    the state's groups are the encoded surroundings), a linear patch embedding, learned position embeddings,
    a CLS token, 2 transformer blocks; logits from the CLS token."""

    model_type = "spatial_vit"
    input_kind = "state"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, patches: int = 8,
                 dim: int = 32, heads: int = 4, depth: int = 2):
        super().__init__()
        if state_size % patches:
            raise ValueError(f"state size {state_size} does not split into {patches} patches")
        self.patches = patches
        self.patch_size = state_size // patches
        self.patch_embedding = nn.Linear(self.patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.position_embedding = nn.Parameter(torch.randn(1, patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embedding(x.reshape(-1, self.patches, self.patch_size))
        cls = self.cls_token + torch.zeros_like(tokens[:, :1])  # broadcast to the batch without shape ops
        h = torch.cat([cls, tokens], dim=1) + self.position_embedding
        for i, block in enumerate(self.blocks):
            h = block(h, keep=0 if i == len(self.blocks) - 1 else None)  # only the CLS token is read
        return self.head(self.norm(h[:, 0]))


class _HistoryEncoder(nn.Module):
    """Transformer encoder over the 10 states (not causal: every state attends to every other; the last
    state's token is the pooled summary). Zero rows -- the monster was not seen yet -- are masked as keys,
    so an encounter's first ticks read the same as later ones with fewer facts."""

    def __init__(self, state_size: int, dim: int, heads: int, depth: int):
        super().__init__()
        self.embedding = nn.Linear(state_size, dim)
        self.position_embedding = nn.Parameter(torch.randn(1, HISTORY_LENGTH, dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        unseen = (history.abs().sum(dim=-1) == 0).to(history.dtype)  # [B, T]; a real state is never all zero
        key_bias = (unseen * MASKED_LOGIT).unsqueeze(1).unsqueeze(1)  # [B, 1, 1, T]
        h = self.embedding(history) + self.position_embedding
        for i, block in enumerate(self.blocks):
            h = block(h, key_bias, keep=-1 if i == len(self.blocks) - 1 else None)  # only the last token is read
        return self.norm(h[:, -1])


class TemporalTransformer(_Classifier):
    """temporal_transformer: 2-layer transformer encoder (dim 48) over the 10 states, last-token pooling."""

    model_type = "temporal_transformer"
    input_kind = "history"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, dim: int = 48, heads: int = 4,
                 depth: int = 2):
        super().__init__()
        self.encoder = _HistoryEncoder(state_size, dim, heads, depth)
        self.head = nn.Linear(dim, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class PatternRecognition(_Classifier):
    """pattern_recognition: transformer over the history with two heads on the pooled token: actions, and an
    auxiliary classifier of the target's behaviour pattern (arena `target_pattern`, -1 = no target, ignored).
    Only the action head is exported; the aux head shapes the representation during training."""

    model_type = "pattern_recognition"
    input_kind = "history"

    def __init__(self, state_size: int = STATE_SIZE, n_actions: int = MODEL_ACTIONS, n_patterns: int = 16,
                 dim: int = 32, heads: int = 4, depth: int = 2, aux_weight: float = 0.5):
        super().__init__()
        self.aux_weight = aux_weight
        self.encoder = _HistoryEncoder(state_size, dim, heads, depth)
        self.head = nn.Linear(dim, n_actions)
        self.pattern_head = nn.Linear(dim, n_patterns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def supervised_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.head(h), self.pattern_head(h)

    def supervised_loss(self, x: torch.Tensor, targets: torch.Tensor,
                        aux_targets: torch.Tensor | None = None) -> torch.Tensor:
        """action_loss + aux_weight * CE(pattern) over the rows whose pattern label is not -1 (either term
        alone when the other targets are None)."""
        if targets is None and aux_targets is None:
            raise ValueError("nothing to learn: targets and aux_targets are both None")
        action_logits, pattern_logits = self.supervised_outputs(x)
        loss = action_logits.sum() * 0.0
        if targets is not None:
            loss = loss + self.action_loss(action_logits, targets)
        if aux_targets is not None:
            loss = loss + self.aux_weight * _cross_entropy(pattern_logits, aux_targets.long())
        return loss

    @torch.no_grad()
    def pattern_accuracy(self, x: torch.Tensor, aux_targets: torch.Tensor) -> float:
        labels = aux_targets.long()
        known = labels >= 0
        if not bool(known.any()):
            return float("nan")
        return (self.supervised_outputs(x)[1].argmax(-1)[known] == labels[known]).float().mean().item()


# -- soft_actor_critic -------------------------------------------------------------------------------------------

def movement_action(radial: float, tangential: float) -> int:
    """The contract's discrete rule for ArenaMove-v0's (radial, tangential) in [-1, 1]^2."""
    if math.hypot(radial, tangential) < ATTACK_RADIUS:
        return int(Action.ATTACK)
    if abs(radial) >= abs(tangential):
        return int(Action.MOVE_CLOSER if radial > 0 else Action.MOVE_AWAY)
    return int(Action.MOVE_RANDOM)


def _minimum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """min(a, b) without the ONNX Min op: onnxruntime's FP16 converter keeps Min/Max in fp32 and, when one
    tensor feeds several of them, names the inserted Cast nodes alike, which makes the FP16 file invalid."""
    return 0.5 * (a + b - (a - b).abs())


def movement_logits(v: torch.Tensor, sharpness: float | torch.Tensor = 10.0) -> torch.Tensor:
    """A fixed, differentiable soft version of `movement_action`: float[B, 2] -> logits float[B, 10].

    Each scored action's logit is a margin that is positive exactly in its region of the rule:
    ATTACK 0.3 - |v|; MOVE_CLOSER min(|v| - 0.3, r - |t|); MOVE_AWAY min(|v| - 0.3, -r - |t|);
    MOVE_RANDOM min(|v| - 0.3, |t| - |r|); so the argmax is the rule everywhere but on the region
    boundaries (where two margins tie at 0). Scaled by `sharpness`; other actions get MASKED_LOGIT.
    """
    radial, tangential = v[:, 0], v[:, 1]
    outside = torch.sqrt(radial * radial + tangential * tangential + 1e-12) - ATTACK_RADIUS
    r_abs, t_abs = radial.abs(), tangential.abs()
    scored = {
        int(Action.ATTACK): -outside,
        int(Action.MOVE_CLOSER): _minimum(outside, radial - t_abs),
        int(Action.MOVE_AWAY): _minimum(outside, -radial - t_abs),
        int(Action.MOVE_RANDOM): _minimum(outside, t_abs - r_abs),
    }
    masked = torch.zeros_like(radial) + MASKED_LOGIT
    return torch.stack([scored[a] * sharpness if a in scored else masked for a in range(MODEL_ACTIONS)], dim=1)


class SacActor(nn.Module):
    """soft_actor_critic: the SAC actor over ArenaMove-v0's (radial, tangential). `forward_gaussian` gives the
    pre-tanh Gaussian (mean, log_std), log_std already squashed into SAC_LOG_STD_RANGE; the deterministic
    action is tanh(mean), and `forward` maps it to logits with `movement_logits`."""

    model_type = "soft_actor_critic"
    input_kind = "state"

    def __init__(self, state_size: int = STATE_SIZE, action_dim: int = 2, hidden: int = 128, sharpness: float = 10.0):
        super().__init__()
        self.action_dim = action_dim
        self.trunk = _mlp([state_size, hidden, hidden], last_activation=True)
        self.mean_head = nn.Linear(hidden, action_dim)
        self.log_std_head = nn.Linear(hidden, action_dim)
        self.register_buffer("sharpness", torch.tensor(float(sharpness)))

    def forward_gaussian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        low, high = SAC_LOG_STD_RANGE
        log_std = low + 0.5 * (high - low) * (torch.tanh(self.log_std_head(h)) + 1)
        return self.mean_head(h), log_std

    def movement(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic action tanh(mean) float[B, 2]."""
        return torch.tanh(self.forward_gaussian(x)[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.action_dim != 2:
            raise ValueError("action logits need the 2-d (radial, tangential) action of ArenaMove-v0")
        return movement_logits(self.movement(x), self.sharpness)


# -- building ----------------------------------------------------------------------------------------------------


# -- a distilled fused network (trainers/distill.py) --------------------------------------------------------------

class DistilledMLP(nn.Module):
    """fused, distilled: an MLP over the newest `history` states of the L1 history, flattened, trained to output a
    fused network's centred log-probabilities (trainers/distill.py). Served like any fused network (history in,
    10 or 11 logits out); an MLP is a few µs per decision on one CPU thread, where the fused networks it learns
    from cost 11-35 µs (docs/benchmarks.md, "Distilled fused networks")."""

    model_type = "fused"
    input_kind = "history"

    def __init__(self, history: int = HISTORY_LENGTH, hidden: int = 256, outputs: int = MODEL_ACTIONS + 1,
                 state_size: int = STATE_SIZE):
        super().__init__()
        self.history = history
        self.net = _mlp((history * state_size, hidden, hidden, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, -self.history:].flatten(1))


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "combat_dqn": DuelingQNetwork,
    "movement_ppo": MovementActorCritic,
    "skill_dqn": SkillEmbeddingQNetwork,
    "threat_assessment": ThreatEnsemble,
    "team_coordination": TeamCoordinationLSTM,
    "spatial_vit": SpatialViT,
    "temporal_transformer": TemporalTransformer,
    "pattern_recognition": PatternRecognition,
    "soft_actor_critic": SacActor,
}
assert tuple(_BUILDERS) == MODEL_TYPES


def build(model_type: str, **kw) -> nn.Module:
    """A fresh network of `model_type`; keyword arguments go to its constructor (sizes, heads, ...)."""
    if model_type == "fused":
        raise ValueError("a fused network is built from trained members: trainers.fusion.FusedPolicy")
    try:
        builder = _BUILDERS[model_type]
    except KeyError:
        raise ValueError(f"unknown model type {model_type!r}; one of {', '.join(MODEL_TYPES)}") from None
    return builder(**kw)


# -- adapters for the RL trainers (their network_fn(obs_shape, n) convention) ------------------------------------

class _Adapter(nn.Module):
    """Wraps a built network for a trainer; `net` is the servable module (export and fusion unwrap it)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    @property
    def input_kind(self) -> str:
        return self.net.input_kind


class QAdapter(_Adapter):
    """forward(obs) -> Q[B, n]: the raw Q values, whatever the network's serving temperature."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.q_values(obs)


class SacActorAdapter(_Adapter):
    """forward(obs) -> (mean, log_std), what trainers/sac.py's actor convention asks for."""

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.forward_gaussian(obs)


def servable(module: nn.Module) -> nn.Module:
    """The network to export or fuse: adapters give their wrapped network, anything else is itself."""
    while isinstance(module, _Adapter):
        module = module.net
    return module


def _state_size(model_type: str, obs_shape: Sequence[int]) -> int:
    if len(obs_shape) != 1:
        raise ValueError(f"{model_type} reads a flat state; got observations of shape {tuple(obs_shape)}")
    return int(obs_shape[0])


def dqn_network_fn(model_type: str = "combat_dqn", **kw) -> Callable[[Sequence[int], int], nn.Module]:
    """For dqn.train(network_fn=...): (obs_shape, n_actions) -> module with forward(obs) -> Q[B, n_actions]."""
    if model_type not in ("combat_dqn", "skill_dqn"):
        raise ValueError(f"{model_type} is not trained by DQN")

    def make(obs_shape: Sequence[int], n_actions: int) -> nn.Module:
        return QAdapter(build(model_type, state_size=_state_size(model_type, obs_shape), n_actions=int(n_actions),
                              **kw))

    return make


def ppo_network_fn(model_type: str = "movement_ppo", **kw) -> Callable[[Sequence[int], int], nn.Module]:
    """For ppo.train(network_fn=...): (obs_shape, n_actions) -> module with forward(obs) -> logits[B, n]
    (disallowed actions already at MASKED_LOGIT) and value(obs) -> [B]."""
    if model_type != "movement_ppo":
        raise ValueError(f"{model_type} is not trained by PPO")

    def make(obs_shape: Sequence[int], n_actions: int) -> nn.Module:
        n_actions = int(n_actions)
        options = dict(kw)
        if n_actions != MODEL_ACTIONS:  # another env (a smoke test): the movement subset means nothing there
            options.setdefault("allowed_actions", None)
        return build(model_type, state_size=_state_size(model_type, obs_shape), n_actions=n_actions, **options)

    return make


def sac_network_fn(**kw) -> Callable[[Sequence[int], int], nn.Module]:
    """For sac.train(network_fn=...): (obs_shape, action_dim) -> SacActorAdapter (forward -> (mean, log_std))."""

    def make(obs_shape: Sequence[int], action_dim: int) -> nn.Module:
        return SacActorAdapter(build("soft_actor_critic", state_size=_state_size("soft_actor_critic", obs_shape),
                                     action_dim=int(action_dim), **kw))

    return make
