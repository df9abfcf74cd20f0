"""Write a policy network as FP32, FP16 and INT8 ONNX files that the pinned onnxruntime loads.

Used by the tests (small untrained networks built from numpy weights, no torch needed) and by
the export command. Imports `onnx`, so only training/export and tests load this module.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from aiworld.mobs.state import HISTORY_LENGTH, MODEL_ACTIONS, STATE_SIZE

OPSET = 17
IR_VERSION = 9  # onnxruntime 1.31 loads IR <= 13; onnx 1.23 would write 14 by default
PRECISIONS = ("fp32", "fp16", "int8")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mlp_model(weights: list[tuple[np.ndarray, np.ndarray]], *, temporal: bool = False):
    """An MLP (ReLU between layers) from [(W, b), ...] as an ONNX model.

    Input "state" float32[B, 64], or "history" float32[B, 10, 64] when temporal (flattened inside).
    Output "action_logits" float32[B, 10], or [B, 11] when the last W has 11 columns (the 11th is action 255).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    if temporal:
        inp = helper.make_tensor_value_info("history", TensorProto.FLOAT, ["batch", HISTORY_LENGTH, STATE_SIZE])
        inits.append(numpy_helper.from_array(np.array([-1, HISTORY_LENGTH * STATE_SIZE], np.int64), "flat_shape"))
        nodes.append(helper.make_node("Reshape", ["history", "flat_shape"], ["x0"]))
    else:
        inp = helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", STATE_SIZE])
        nodes.append(helper.make_node("Identity", ["state"], ["x0"]))
    current = "x0"
    for i, (w, b) in enumerate(weights):
        last = i == len(weights) - 1
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], ["action_logits" if last else f"z{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [f"a{i}"]))
            current = f"a{i}"
    # 10 logits (actions 0..9), or 11 when the last layer is that wide (the 11th is action 255)
    output = helper.make_tensor_value_info("action_logits", TensorProto.FLOAT, ["batch", weights[-1][0].shape[1]])
    graph = helper.make_graph(nodes, "policy", [inp], [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aiworld")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def random_mlp(seed: int, hidden: tuple[int, ...] = (64, 64), *, temporal: bool = False):
    """An untrained network with seeded random weights (serving tests; a stand-in, not a policy)."""
    rng = np.random.default_rng(seed)
    sizes = [STATE_SIZE * (HISTORY_LENGTH if temporal else 1), *hidden, MODEL_ACTIONS]
    weights = [(rng.normal(0, 1 / np.sqrt(a), (a, b)), rng.normal(0, 0.1, b))
               for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return mlp_model(weights, temporal=temporal)


def write_precisions(model, directory: Path, stem: str) -> dict[str, Path]:
    """Save FP32, FP16 (float16 weights, float32 inputs/outputs) and INT8 (dynamic quantization)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.float16 import convert_float_to_float16

    directory.mkdir(parents=True, exist_ok=True)
    paths = {p: directory / f"{stem}.{p}.onnx" for p in PRECISIONS}
    onnx.save(model, paths["fp32"])
    half = convert_float_to_float16(model, keep_io_types=True)
    half.ir_version = IR_VERSION
    onnx.save(half, paths["fp16"])
    logging.disable(logging.WARNING)  # the quantizer logs every tensor at INFO on the root logger
    try:
        quantize_dynamic(str(paths["fp32"]), str(paths["int8"]), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    quantized = onnx.load(paths["int8"])
    quantized.ir_version = min(quantized.ir_version, IR_VERSION)
    onnx.save(quantized, paths["int8"])
    return paths
