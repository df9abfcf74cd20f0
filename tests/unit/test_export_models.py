"""Every model type and the fused network export to FP32/FP16/INT8 ONNX files that the pinned onnxruntime
loads (IR 9, opset 17) and that agree with torch; the fused probabilities are the serving engine's rule.

Parity is measured on networks briefly fitted to a teacher (the rules AI of fallback level 4, with per-type
targets derived from it), not on untrained ones: an untrained network's logits are near-tied, so any
rounding flips its argmax and the agreement would say nothing about the export.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from aiworld.mobs import rules
from aiworld.mobs.caches import Histories
from aiworld.mobs.devices import CPU, Devices
from aiworld.mobs.engine import Engine, _softmax
from aiworld.mobs.onnx_export import IR_VERSION, OPSET, sha256_of
from aiworld.mobs.state import ARCHETYPES, INDEX, LAYOUT, Action
from aiworld.services.registry import ModelSpec, ServingSnapshot
from trainers import export as export_module
from trainers.export import ExportParityError, export_onnx
from trainers.fusion import FusedPolicy
from trainers.networks import MODEL_TYPES, MOVEMENT_ACTIONS, build, parameter_count

torch.set_num_threads(1)

FLAGS = [index for index, _, _, meaning in LAYOUT if meaning.startswith("flag:")]
RARE_FLAGS = [INDEX["is_disabled"], INDEX["is_casting"]]  # set in 1 of 10 states, or rules answer IDLE to most
HISTORY_TYPES = {"team_coordination", "temporal_transformer", "pattern_recognition"}
FIT_STEPS = {"combat_dqn": 150, "movement_ppo": 150, "skill_dqn": 150, "threat_assessment": 150,
             "team_coordination": 200, "spatial_vit": 250, "temporal_transformer": 200, "pattern_recognition": 200,
             "soft_actor_critic": 150}
SAC_TARGETS = {Action.ATTACK: (0.0, 0.0), Action.MOVE_CLOSER: (2.0, 0.3), Action.MOVE_AWAY: (-2.0, -0.3)}
SIDEWAYS = (0.3, 2.0)  # every other rules action: a sideways step
N_PATTERNS = 12


def synthetic_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """Realistic-looking states: uniform [0, 1] values, flags 0/1."""
    x = rng.random((n, 64), dtype=np.float32)
    x[:, FLAGS] = rng.random((n, len(FLAGS))) < 0.5
    x[:, RARE_FLAGS] = rng.random((n, len(RARE_FLAGS))) < 0.1
    return x


def synthetic_histories(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ten states drifting from a start, the oldest rows zero (not seen yet) for some monsters."""
    start = synthetic_states(rng, n)
    drift = rng.normal(0, 0.05, (n, 10, 64)).astype(np.float32).cumsum(axis=1)
    histories = np.clip(start[:, None, :] + drift, 0, 1)
    histories[:, :, FLAGS] = start[:, None, FLAGS]
    histories[:, -1] = synthetic_states(rng, n)  # the current state: its flags decide the teacher's action
    unseen = rng.integers(0, 10, n)
    histories[np.arange(10)[None, :] < unseen[:, None]] = 0
    return histories


def teacher(x: np.ndarray) -> np.ndarray:
    current = x if x.ndim == 2 else x[:, -1]
    return rules.decide(current, np.full(len(current), ARCHETYPES.index("aggressive"))).astype(np.int64)


MOVEMENT_SUBSTITUTE = {Action.SKILL_1: Action.ATTACK, Action.SKILL_2: Action.ATTACK, Action.SKILL_3: Action.ATTACK,
                       Action.CHANGE_TARGET: Action.MOVE_RANDOM}


def expected_actions(model_type: str, labels: np.ndarray) -> np.ndarray:
    """The action a network fitted by fit_loss should pick for teacher labels."""
    if model_type == "movement_ppo":
        return np.array([int(MOVEMENT_SUBSTITUTE.get(int(a), a)) for a in labels])
    if model_type == "soft_actor_critic":  # the rule of each target vector: tanh(2) = 0.96, tanh(0.3) = 0.29
        return np.array([int(a) if a in SAC_TARGETS else int(Action.MOVE_RANDOM) for a in labels])
    return labels


def fit_loss(model_type: str, model, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if model_type == "threat_assessment":
        # loss per action: high for all but the teacher's action, plus a state-dependent term
        targets = 0.6 - 0.5 * F.one_hot(labels, 10).float() + 0.1 * x[:, :10]
        return model.supervised_loss(x, targets)
    if model_type == "soft_actor_critic":
        table = torch.tensor([SAC_TARGETS.get(a, SIDEWAYS) for a in range(10)])
        return F.mse_loss(model.forward_gaussian(x)[0], table[labels])
    if model_type == "movement_ppo":
        return F.cross_entropy(model(x), torch.from_numpy(expected_actions(model_type, labels.numpy())))
    if model_type == "pattern_recognition":
        # a pattern label the history can tell (which attribute of the target is on), -1 without a target
        current = x[:, -1]
        patterns = current[:, 35:39].argmax(dim=1) * 3 + (current[:, 33] * 2.99).long()
        patterns = torch.where(current[:, INDEX["has_target"]] >= 0.5, patterns, -1)
        return model.supervised_loss(x, labels, patterns)
    return F.cross_entropy(model(x), labels)


@functools.cache
def fitted(model_type: str):
    """(model fitted with a fixed seed, a held-out sample of its input kind)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    kw = {"n_patterns": N_PATTERNS} if model_type == "pattern_recognition" else {}
    model = build(model_type, **kw)
    make = synthetic_histories if model_type in HISTORY_TYPES else synthetic_states
    data = make(rng, 4096)
    labels = torch.from_numpy(teacher(data))
    inputs = torch.from_numpy(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(FIT_STEPS[model_type]):
        rows = torch.from_numpy(rng.integers(0, len(data), 128))
        loss = fit_loss(model_type, model, inputs[rows], labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    sample = make(np.random.default_rng(11), 512)
    return model, sample


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@functools.cache
def exported(model_type: str, directory: Path):
    model, sample = fitted(model_type)
    return export_onnx(model, directory, model_type, sample)


def default_opset(path: Path) -> int:
    return next(o.version for o in onnx.load(path).opset_import if o.domain in ("", "ai.onnx"))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_each_type_exports_three_precisions_that_agree_with_torch(model_type, out_dir):
    model, sample = fitted(model_type)
    with torch.no_grad():
        picked = model(torch.from_numpy(sample)).argmax(1).numpy()
    accuracy = (picked == expected_actions(model_type, teacher(sample))).mean()
    assert accuracy > 0.8, f"the network is not fitted ({accuracy:.2f}): parity on it would mean little"
    report = exported(model_type, out_dir)  # raises ExportParityError below 0.98
    assert set(report.precisions) == {"fp32", "fp16", "int8"}
    assert report.parameters == parameter_count(model) < 100_000
    assert report.precisions["fp32"].max_abs_error < 1e-3
    for precision, entry in report.precisions.items():
        assert entry.argmax_agreement >= 0.98, (precision, report.summary())
        assert entry.path == out_dir / f"{model_type}.{precision}.onnx"
        assert entry.path.stat().st_size == entry.size_bytes
        assert entry.sha256 == sha256_of(entry.path)
        proto = onnx.load(entry.path)
        assert proto.ir_version == IR_VERSION and default_opset(entry.path) == OPSET
    # INT8 really holds integer kernels (torch writes Linear as Gemm, which dynamic quantization skips)
    assert report.precisions["int8"].quantized_nodes > 0


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_served_files_follow_the_engine_contract(model_type, out_dir):
    """The engine tells temporal models by input rank 3 and reads the first output; any batch size runs."""
    model, sample = fitted(model_type)
    report = exported(model_type, out_dir)
    for entry in report.precisions.values():
        session = ort.InferenceSession(str(entry.path), providers=["CPUExecutionProvider"])
        [inp], [out] = session.get_inputs(), session.get_outputs()
        assert inp.name == model.input_kind and len(inp.shape) == (3 if model_type in HISTORY_TYPES else 2)
        assert inp.type == "tensor(float)" and out.type == "tensor(float)" and out.name == "action_logits"
        for n in (1, 7):
            logits = session.run(None, {inp.name: sample[:n]})[0]
            assert logits.shape == (n, 10)
    if model_type == "movement_ppo":
        int8 = ort.InferenceSession(str(report.precisions["int8"].path), providers=["CPUExecutionProvider"])
        actions = int8.run(None, {"state": sample})[0].argmax(1)
        assert set(actions.tolist()) <= {int(a) for a in MOVEMENT_ACTIONS}


def test_a_disagreeing_precision_raises_with_the_numbers(out_dir, monkeypatch):
    model, sample = fitted("combat_dqn")
    real = export_module.onnx_logits

    def broken_int8(path, x):
        logits = real(path, x)
        return np.roll(logits, 1, axis=1) if ".int8." in path.name else logits

    monkeypatch.setattr(export_module, "onnx_logits", broken_int8)
    with pytest.raises(ExportParityError, match=r"int8.*agreement 0\.\d+") as caught:
        export_onnx(model, out_dir / "broken", "combat", sample)
    assert caught.value.report.precisions["fp32"].argmax_agreement == 1.0
    assert caught.value.report.precisions["int8"].argmax_agreement < 0.5


def test_an_int8_file_missing_parity_is_quantized_again_per_channel(out_dir, monkeypatch):
    model, sample = fitted("spatial_vit")
    real = export_module.onnx_logits
    calls = []

    def first_int8_broken(path, x):
        logits = real(path, x)
        if ".int8." in path.name:
            calls.append(path)
            return np.roll(logits, 1, axis=1) if len(calls) == 1 else logits
        return logits

    monkeypatch.setattr(export_module, "onnx_logits", first_int8_broken)
    report = export_onnx(model, out_dir / "retry", "vit", sample)
    int8 = report.precisions["int8"]
    assert len(calls) == 2 and int8.per_channel and int8.argmax_agreement >= 0.98
    assert not report.precisions["fp16"].per_channel
    proto = onnx.load(int8.path)
    assert proto.ir_version == IR_VERSION and default_opset(int8.path) == OPSET
    weight_scales = [list(i.dims) for i in proto.graph.initializer if i.name.endswith("_scale")]
    assert weight_scales and all(dims and dims[0] > 1 for dims in weight_scales)  # one per output channel
    assert int8.sha256 == sha256_of(int8.path)


@pytest.mark.parametrize(("alpha", "beta", "trans_b"), [(1.0, 1.0, 1), (2.0, 0.5, 0)])
def test_gemm_becomes_matmul_plus_add_with_the_same_outputs(alpha, beta, trans_b):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 6) if trans_b else (6, 10)).astype(np.float32)
    c = rng.normal(size=10).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["state", "w", "c"], ["action_logits"], alpha=alpha, beta=beta, transB=trans_b)],
        "g", [helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("action_logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    x = rng.random((4, 6), dtype=np.float32)
    before = ort.InferenceSession(model.SerializeToString(), providers=[CPU]).run(None, {"state": x})[0]
    rewritten = export_module.gemm_to_matmul(model)
    onnx.checker.check_model(rewritten)
    assert [n.op_type for n in rewritten.graph.node] == ["MatMul", "Add"]
    assert "w" not in {i.name for i in rewritten.graph.initializer}
    after = ort.InferenceSession(rewritten.SerializeToString(), providers=[CPU]).run(None, {"state": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_a_sample_of_the_wrong_kind_is_refused(out_dir):
    model, sample = fitted("combat_dqn")
    with pytest.raises(ValueError, match="history"):
        export_onnx(fitted("team_coordination")[0], out_dir / "bad", "x", sample)
    with pytest.raises(ValueError, match="state"):
        export_onnx(model, out_dir / "bad", "x", sample[:, None, :])


# -- fusion ------------------------------------------------------------------------------------------------------

def members() -> dict:
    return {t: fitted(t)[0] for t in MODEL_TYPES}


WEIGHTS = {"combat_dqn": 1.0, "movement_ppo": 0.5, "skill_dqn": 0.7, "threat_assessment": 0.3,
           "team_coordination": 1.0, "spatial_vit": 0.8, "temporal_transformer": 1.2, "pattern_recognition": 0.6,
           "soft_actor_critic": 0.4}


def engine_rule(member_logits: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """aiworld/mobs/engine.py's _fused_probs on logits already computed."""
    total = np.zeros_like(next(iter(member_logits.values())))
    for name, logits in member_logits.items():
        total += weights[name] * _softmax(logits.astype(np.float32))
    return total / max(sum(weights[name] for name in member_logits), 1e-9)


def test_fused_probabilities_are_the_engines_rule():
    policy = FusedPolicy(members(), WEIGHTS)
    history = fitted("temporal_transformer")[1][:64]
    with torch.no_grad():
        fused = policy.probs(torch.from_numpy(history)).numpy()
        logits = {t: m(torch.from_numpy(history if m.input_kind == "history" else history[:, -1])).numpy()
                  for t, m in members().items()}
        served = torch.softmax(policy(torch.from_numpy(history)), dim=-1).numpy()
    expected = engine_rule(logits, WEIGHTS)
    np.testing.assert_allclose(fused, expected, atol=1e-6)
    np.testing.assert_allclose(served, expected, atol=1e-4)  # the engine's softmax of the fused logits
    assert fused.argmax(1).tolist() != logits["combat_dqn"].argmax(1).tolist()  # members do disagree


def test_a_zero_weight_removes_the_member_from_the_network_and_the_file(out_dir):
    sample = fitted("temporal_transformer")[1]
    ablated = dict(WEIGHTS, temporal_transformer=0.0, team_coordination=0.0)
    policy = FusedPolicy(members(), ablated)
    assert set(policy.members) == set(MODEL_TYPES) - {"temporal_transformer", "team_coordination"}
    rest = {t: fitted(t)[0] for t in policy.members}
    with torch.no_grad():
        np.testing.assert_allclose(policy(torch.from_numpy(sample)).numpy(),
                                   FusedPolicy(rest, {t: ablated[t] for t in rest})(torch.from_numpy(sample)).numpy(),
                                   atol=1e-6)
    report = export_onnx(policy, out_dir / "ablation", "fused", sample)
    ops = {node.op_type for node in onnx.load(report.precisions["fp32"].path).graph.node}
    assert "LSTM" not in ops  # team_coordination (the only LSTM) is not in the graph
    with pytest.raises(ValueError):
        FusedPolicy(members(), dict.fromkeys(MODEL_TYPES, 0.0))
    with pytest.raises(ValueError):
        FusedPolicy(members(), {"combat_dqn": 1.0})


def test_the_fused_network_exports_and_the_engine_serves_it_like_its_members(out_dir):
    started = time.perf_counter()
    policy = FusedPolicy(members(), WEIGHTS)
    sample = fitted("temporal_transformer")[1]
    report = export_onnx(policy, out_dir / "fused", "aggressive-fused", sample)
    assert all(p.argmax_agreement >= 0.98 for p in report.precisions.values()), report.summary()
    assert report.parameters == sum(parameter_count(m) for m in members().values())

    def spec(i, model_type, path, weight=1.0):
        return ModelSpec(id=i, archetype="aggressive", model_type=model_type, version=1, precision="fp32",
                         path=path, sha256=sha256_of(path), weight=weight)

    def cpu_engine(specs):
        devices = Devices()
        devices.available_providers = lambda: [CPU]
        return Engine(ServingSnapshot(models=tuple(specs), forced_level=3, difficulty=1.0), devices=devices)

    states, history = sample[:32, -1], sample[:32]
    rows = np.arange(32)
    kept = Histories(history, rows, np.full(32, history.shape[1] - 1))  # as L1 keeps them: newest last
    providers = [CPU]
    # the fused file served alone
    fused_spec = spec(1, "fused", report.precisions["fp32"].path)
    served_fused = cpu_engine([fused_spec])._fused_probs([fused_spec], providers, states, kept, rows, 3)
    # the nine members served separately with the same weights
    separate = [spec(10 + i, t, exported(t, out_dir).precisions["fp32"].path, WEIGHTS[t])
                for i, t in enumerate(MODEL_TYPES)]
    served_separately = cpu_engine(separate)._fused_probs(separate, providers, states, kept, rows, 3)
    with torch.no_grad():
        expected = policy.probs(torch.from_numpy(history)).numpy()
    np.testing.assert_allclose(served_separately, expected, atol=1e-4)
    np.testing.assert_allclose(served_fused, expected, atol=1e-4)
    assert time.perf_counter() - started < 30
