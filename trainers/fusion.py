"""One network holding the fused decision of several trained members (model type `fused`).

The rule is the serving engine's (aiworld/mobs/engine.py `_fused_probs`) for separately served models:
the weighted mean of the members' softmax probabilities, divided by the weight sum. The fused network
returns its log so that the engine's own softmax over a served `fused` model gives those probabilities back.
Members output 10 logits (actions 0..9) or 11 (the 11th is action 255, the map server's own AI); when any
member has 11, the fused network has 11 and a 10-output member gives 255 probability 0, as in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from aiworld.mobs.state import HISTORY_LENGTH, MODEL_ACTIONS, MODEL_OUTPUTS, STATE_SIZE
from trainers.networks import servable

# Floor inside the log. Not 1e-8: the FP16 export rounds constants below fp16's smallest subnormal
# (6e-8) up to it, and fp32 and fp16 would then disagree by ~2 on the logits of impossible actions.
# The floor changes served probabilities by at most 10 * 1e-6.
PROB_FLOOR = 1e-6


class FusedPolicy(nn.Module):
    """forward(history float[B, 10, 64]) -> log(sum_m w_m softmax(logits_m) / sum_m w_m) float[B, 10 or 11].

    The serving engine feeds one input per model, so the fused network takes the history only and hands
    state-input members its last row (the current state). Members with weight 0 are dropped here: they are
    neither computed nor exported (ablation).
    """

    model_type = "fused"
    input_kind = "history"

    def __init__(self, members: Mapping[str, nn.Module], weights: Mapping[str, float], prob_floor: float = PROB_FLOOR):
        super().__init__()
        if set(members) != set(weights):
            raise ValueError(f"members {sorted(members)} and weights {sorted(weights)} name different models")
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"negative fusion weight in {dict(weights)}")
        active = [name for name in members if weights[name] > 0]
        if not active:
            raise ValueError("every fusion weight is 0: nothing to fuse")
        self.members = nn.ModuleDict({name: servable(members[name]) for name in active})
        self.weights = {name: float(weights[name]) for name in active}
        self.weight_sum = sum(self.weights.values())
        self.prob_floor = prob_floor
        for name, member in self.members.items():
            if member.input_kind not in ("state", "history"):
                raise ValueError(f"member {name} has input_kind {member.input_kind!r}")
        with torch.no_grad():
            widths = {name: int(p.shape[1]) for name, p in self.member_probs(
                torch.zeros(1, HISTORY_LENGTH, STATE_SIZE)).items()}
        if not set(widths.values()) <= {MODEL_ACTIONS, MODEL_OUTPUTS}:
            raise ValueError(f"members must output {MODEL_ACTIONS} or {MODEL_OUTPUTS} logits: {widths}")
        self.outputs = max(widths.values())

    def member_probs(self, history: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each active member's softmax probabilities float[B, 10 or 11] (for reports and tests)."""
        current = history[:, -1]
        return {name: torch.softmax(member(history if member.input_kind == "history" else current), dim=-1)
                for name, member in self.members.items()}

    def probs(self, history: torch.Tensor) -> torch.Tensor:
        total = None
        for name, p in self.member_probs(history).items():
            if p.shape[1] < self.outputs:  # a 10-output member never hands over to the map server's AI
                p = torch.nn.functional.pad(p, (0, self.outputs - p.shape[1]))
            term = self.weights[name] * p
            total = term if total is None else total + term
        return total / self.weight_sum

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.clamp(self.probs(history), min=self.prob_floor))
