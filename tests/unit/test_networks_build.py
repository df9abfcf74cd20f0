"""The nine networks: the serving contract (input kind, [B, 10] logits), size, and what each trainer needs
(Q values, value head, Gaussian, supervised losses, the SAC movement mapping, the trainer adapters)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aiworld.mobs.state import Action
from trainers.networks import (
    ATTACK_RADIUS,
    MASKED_LOGIT,
    MODEL_TYPES,
    MOVEMENT_ACTIONS,
    SAC_LOG_STD_RANGE,
    SUPERVISED_TYPES,
    QAdapter,
    SacActorAdapter,
    _Block,
    build,
    dqn_network_fn,
    fit_temperature,
    movement_action,
    movement_logits,
    parameter_count,
    ppo_network_fn,
    sac_network_fn,
    servable,
)

torch.set_num_threads(1)

HISTORY_TYPES = {"team_coordination", "temporal_transformer", "pattern_recognition"}


def inputs(model, batch: int = 5, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, 10, 64) if model.input_kind == "history" else (batch, 64)
    return torch.rand(shape, generator=generator)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_each_type_gives_ten_logits_for_its_input_and_stays_small(model_type):
    torch.manual_seed(0)
    model = build(model_type).eval()
    assert model.input_kind == ("history" if model_type in HISTORY_TYPES else "state")
    assert model.model_type == model_type
    for batch in (1, 5):
        logits = model(inputs(model, batch))
        assert logits.shape == (batch, 10) and logits.dtype == torch.float32
        assert torch.isfinite(logits).all()
    assert 5_000 < parameter_count(model) < 100_000


@pytest.mark.parametrize("model_type", sorted(HISTORY_TYPES))
def test_history_models_read_earlier_states_and_ignore_nothing_but_unseen_rows(model_type):
    torch.manual_seed(0)
    model = build(model_type).eval()
    x = inputs(model, 4)
    changed = x.clone()
    changed[:, 2] = torch.rand(4, 64)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(changed), atol=1e-5)


def test_transformers_mask_unseen_rows_as_keys():
    """An unseen (zero) row changes nothing whatever the position embedding learned for its slot."""
    torch.manual_seed(0)
    model = build("temporal_transformer").eval()
    x = inputs(model, 3)
    x[:, :4] = 0
    with torch.no_grad():
        before = model(x)
        model.encoder.position_embedding[:, :4] += 2 * torch.randn(1, 4, 48)  # the unseen rows' tokens change
        after = model(x)
    torch.testing.assert_close(before, after, atol=1e-5, rtol=0)


@pytest.mark.parametrize("keep", [0, -1, 3])
def test_a_block_asked_for_one_token_gives_that_token_of_the_full_block(keep):
    """The last block of a pooled encoder computes only the token that is read (serving cost), the same
    numbers as the whole block gives for it, with key masking."""
    torch.manual_seed(0)
    block = _Block(48, 4).eval()
    x = torch.rand(6, 10, 48)
    key_bias = torch.zeros(6, 1, 1, 10)
    key_bias[:2, ..., :4] = MASKED_LOGIT
    with torch.no_grad():
        full, one = block(x, key_bias), block(x, key_bias, keep=keep)
    assert one.shape == (6, 1, 48)
    torch.testing.assert_close(one[:, 0], full[:, keep], atol=1e-5, rtol=0)


def test_unknown_and_fused_types_are_refused():
    with pytest.raises(ValueError, match="unknown model type"):
        build("nope")
    with pytest.raises(ValueError, match="FusedPolicy"):
        build("fused")


def test_combat_dqn_is_a_dueling_q_network_and_temperature_only_tempers_the_logits():
    torch.manual_seed(0)
    model = build("combat_dqn", temperature=4.0).eval()
    x = inputs(model)
    with torch.no_grad():
        q = model.q_values(x)
        h = model.trunk(x)
        advantage = model.advantage_head(h)
        torch.testing.assert_close(q - model.value_head(h), advantage - advantage.mean(1, keepdim=True))
        torch.testing.assert_close(model(x), q / 4.0)
        adapter = dqn_network_fn("combat_dqn", temperature=4.0)((64,), 10)
        adapter.net.load_state_dict(model.state_dict())
        torch.testing.assert_close(adapter(x), q)  # the trainer regresses raw Q
    assert isinstance(adapter, QAdapter) and servable(adapter) is adapter.net and adapter.input_kind == "state"


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.99])
def test_fitted_temperature_gives_the_greedy_action_the_asked_confidence(confidence):
    torch.manual_seed(0)
    q = torch.randn(500, 10) * 0.05  # Q gaps of a DQN on a small reward scale
    at_one = torch.softmax(q, 1).max(1).values.mean()
    assert at_one < 0.15  # at temperature 1 such a DQN is a near-uniform softmax
    t = fit_temperature(q, confidence)
    top = torch.softmax(q / t, 1)
    assert float(top.max(1).values.mean()) == pytest.approx(confidence, abs=1e-6)
    assert torch.equal(top.argmax(1), q.argmax(1))  # a temperature never changes the greedy choice


def test_fitted_temperature_on_ties_and_bad_confidences():
    tied = torch.zeros(4, 10)
    assert fit_temperature(tied, 0.9) == 1e-4  # nothing makes equal Q values confident: the lowest T
    for bad in (0.05, 0.1, 1.0):
        with pytest.raises(ValueError, match="confidence"):
            fit_temperature(torch.randn(4, 10), bad)


def test_skill_dqn_scores_actions_by_their_embeddings():
    torch.manual_seed(0)
    model = build("skill_dqn").eval()
    x = inputs(model)
    assert model.action_embeddings.shape == (10, 16)
    with torch.no_grad():
        features = model.encoder(x)
        expected = torch.stack([features @ model.action_embeddings[a] + model.action_bias[a] for a in range(10)], 1)
        torch.testing.assert_close(model.q_values(x), expected)
    adapter = dqn_network_fn("skill_dqn")((64,), 10)
    assert adapter(x).shape == (5, 10)


def test_dqn_adapter_fits_any_flat_env_and_refuses_other_types():
    net = dqn_network_fn("combat_dqn")((4,), 2)
    assert net(torch.rand(3, 4)).shape == (3, 2)
    with pytest.raises(ValueError):
        dqn_network_fn("movement_ppo")
    with pytest.raises(ValueError, match="flat state"):
        dqn_network_fn("combat_dqn")((10, 64), 10)


def test_movement_ppo_masks_non_movement_actions_and_has_a_value_head():
    torch.manual_seed(0)
    model = ppo_network_fn("movement_ppo")((64,), 10)
    x = inputs(model, 64)
    logits = model(x)
    masked = [a for a in range(10) if a not in MOVEMENT_ACTIONS]
    assert masked == [Action.SKILL_1, Action.SKILL_2, Action.SKILL_3, Action.CHANGE_TARGET]
    assert (logits[:, masked] == MASKED_LOGIT).all()
    probs = torch.softmax(logits, dim=-1)
    assert (probs[:, masked] == 0).all() and torch.isfinite(torch.log_softmax(logits, -1)).all()
    assert model.value(x).shape == (64,)
    # the first policy is near uniform over the allowed actions (small last actor layer)
    assert probs[:, list(MOVEMENT_ACTIONS)].min() > 0.1
    other = ppo_network_fn("movement_ppo")((4,), 2)  # e.g. a CartPole smoke test: no movement subset
    assert torch.isfinite(other(torch.rand(3, 4))).all() and other.value(torch.rand(3, 4)).shape == (3,)
    with pytest.raises(ValueError):
        ppo_network_fn("combat_dqn")


def test_threat_ensemble_logits_are_minus_k_mean_plus_std_of_predicted_loss():
    torch.manual_seed(0)
    model = build("threat_assessment").eval()
    x = inputs(model)
    with torch.no_grad():
        loss = model.predict_loss(x)
        assert loss.shape == (5, 5, 10) and (loss >= 0).all() and (loss <= 1).all()
        expected = -10.0 * (loss.mean(1) + loss.std(1, unbiased=False))
        torch.testing.assert_close(model(x), expected, atol=1e-3, rtol=0)
        main, aux = model.supervised_outputs(x)
    assert main.shape == (5, 5, 10) and aux is None
    targets = torch.rand(5, 10)
    torch.testing.assert_close(model.supervised_loss(x, targets),
                               ((model.predict_loss(x) - targets[:, None, :]) ** 2).mean())
    # rollouts know the loss of the action taken only: that prediction alone is regressed
    taken, hp_loss = torch.tensor([0, 3, 9, 3, 1]), torch.rand(5)
    predicted = model.predict_loss(x)[torch.arange(5), :, taken]  # [B, members]
    torch.testing.assert_close(model.supervised_loss(x, hp_loss, taken), ((predicted - hp_loss[:, None]) ** 2).mean())
    with pytest.raises(ValueError, match="aux_targets"):
        model.supervised_loss(x, hp_loss)


@pytest.mark.parametrize("model_type", SUPERVISED_TYPES)
def test_supervised_losses_are_scalars_that_train(model_type):
    torch.manual_seed(0)
    model = build(model_type)
    x = inputs(model, 32)
    if model_type == "threat_assessment":
        targets = torch.rand(32, 10)
    else:
        targets = torch.randint(0, 10, (32,))
        assert 0 <= model.supervised_accuracy(x, targets) <= 1
        soft = F.softmax(torch.randn(32, 10), dim=-1)  # a teacher's probabilities (distillation)
        assert model.supervised_loss(x, soft).dim() == 0
    aux = torch.randint(-1, 12, (32,)) if model_type == "pattern_recognition" else None
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model.supervised_loss(x, targets, aux)
    assert first.dim() == 0 and torch.isfinite(first)
    for _ in range(30):
        loss = model.supervised_loss(x, targets, aux)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.supervised_loss(x, targets, aux).item() < first.item()


def test_pattern_recognition_adds_the_pattern_loss_and_ignores_unknown_targets():
    torch.manual_seed(0)
    model = build("pattern_recognition", n_patterns=7, aux_weight=0.5).eval()
    x = inputs(model, 16)
    actions = torch.randint(0, 10, (16,))
    patterns = torch.randint(0, 7, (16,))
    patterns[:5] = -1
    with torch.no_grad():
        action_logits, pattern_logits = model.supervised_outputs(x)
        assert pattern_logits.shape == (16, 7)
        ce = F.cross_entropy(action_logits, actions)
        expected = ce + 0.5 * F.cross_entropy(pattern_logits[5:], patterns[5:])
        torch.testing.assert_close(model.supervised_loss(x, actions, patterns), expected)
        torch.testing.assert_close(model.supervised_loss(x, actions, torch.full((16,), -1)), ce)
        torch.testing.assert_close(model.supervised_loss(x, actions), ce)
        torch.testing.assert_close(model.supervised_loss(x, None, patterns), expected - ce)
        assert math.isnan(model.pattern_accuracy(x, torch.full((16,), -1)))


def test_classifiers_ignore_unlabelled_rows():
    torch.manual_seed(0)
    model = build("spatial_vit").eval()
    x = inputs(model, 8)
    labels = torch.tensor([3, -1, 0, 9, -1, 2, 2, 5])
    with torch.no_grad():
        logits = model(x)
        known = labels >= 0
        torch.testing.assert_close(model.supervised_loss(x, labels), F.cross_entropy(logits[known], labels[known]))
        assert model.supervised_loss(x, torch.full((8,), -1)).item() == 0.0
        expected = (logits.argmax(1)[known] == labels[known]).float().mean().item()
        assert model.supervised_accuracy(x, labels) == pytest.approx(expected)


def test_sac_actor_gives_a_bounded_gaussian_through_its_adapter():
    actor = sac_network_fn()((64,), 2)
    assert isinstance(actor, SacActorAdapter) and servable(actor).model_type == "soft_actor_critic"
    mean, log_std = actor(torch.rand(6, 64))
    assert mean.shape == log_std.shape == (6, 2)
    low, high = SAC_LOG_STD_RANGE
    assert (log_std >= low).all() and (log_std <= high).all()
    pendulum = sac_network_fn()((3,), 1)  # a smoke-test env: the Gaussian works, logits are refused
    assert pendulum(torch.rand(2, 3))[0].shape == (2, 1)
    with pytest.raises(ValueError, match="radial, tangential"):
        servable(pendulum)(torch.rand(2, 3))


def test_sac_soft_mapping_has_the_contracts_argmax_on_a_grid():
    axis = np.linspace(-1, 1, 81)  # includes 0, the diagonals |r| = |t| and the square's edges
    grid = np.array(list(itertools.product(axis, axis)), np.float32)
    logits = movement_logits(torch.from_numpy(grid)).numpy()
    rule = np.array([movement_action(float(r), float(t)) for r, t in grid])
    # on the circle |v| = 0.3 ATTACK ties its neighbour at 0 and float rounding decides: the only points left out
    on_circle = np.isclose(np.hypot(grid[:, 0], grid[:, 1]), ATTACK_RADIUS, atol=1e-4)
    assert on_circle.sum() <= 4
    assert (logits.argmax(1) == rule)[~on_circle].all()
    assert set(rule.tolist()) == {Action.ATTACK, Action.MOVE_CLOSER, Action.MOVE_AWAY, Action.MOVE_RANDOM}
    others = [a for a in range(10) if a not in (Action.ATTACK, Action.MOVE_CLOSER, Action.MOVE_AWAY,
                                                 Action.MOVE_RANDOM)]
    assert (logits[:, others] == MASKED_LOGIT).all()
    # spot checks of the contract's words
    examples = {(0.1, 0.2): Action.ATTACK, (0.9, 0.5): Action.MOVE_CLOSER, (-0.6, 0.2): Action.MOVE_AWAY,
                (0.2, -0.7): Action.MOVE_RANDOM}
    for (r, t), action in examples.items():
        assert movement_logits(torch.tensor([[r, t]])).argmax().item() == action == movement_action(r, t)


def test_sac_mapping_is_differentiable_and_the_actor_logits_follow_tanh_of_the_mean():
    v = torch.tensor([[0.8, 0.1], [0.05, 0.1], [-0.5, 0.6]], requires_grad=True)
    logits = movement_logits(v)
    logits[:, [Action.ATTACK, Action.MOVE_CLOSER, Action.MOVE_AWAY, Action.MOVE_RANDOM]].sum().backward()
    assert torch.isfinite(v.grad).all() and (v.grad.abs().sum(1) > 0).all()
    torch.manual_seed(0)
    actor = build("soft_actor_critic").eval()
    x = torch.rand(8, 64)
    with torch.no_grad():
        torch.testing.assert_close(actor(x), movement_logits(torch.tanh(actor.forward_gaussian(x)[0]), 10.0))
