"""Small untrained ONNX models, registered and activated, for serving tests."""

from __future__ import annotations

from pathlib import Path

from aiworld.mobs.onnx_export import random_mlp, write_precisions
from aiworld.services import registry


def install_models(directory: Path, archetypes: tuple[str, ...], model_types: tuple[str, ...] = ("combat_dqn",),
                   version: int = 1, seed: int = 0, temporal_types: tuple[str, ...] = ("temporal_transformer",),
                   activate: bool = True) -> list:
    entries = []
    for a, archetype in enumerate(archetypes):
        for t, model_type in enumerate(model_types):
            model = random_mlp(seed + 100 * a + t + 1000 * version, temporal=model_type in temporal_types)
            paths = write_precisions(model, directory, f"{archetype}-{model_type}-v{version}")
            for precision, path in paths.items():
                entries.append(registry.register(archetype=archetype, model_type=model_type, version=version,
                                                 precision=precision, path=path))
            if activate:
                registry.activate(archetype, model_type, version)
    return entries


def write_slow_model(path: Path, iterations: int) -> Path:
    """A valid policy file whose run takes time that does not shrink on a faster CPU's SIMD units.

    An ONNX Loop applies Relu to the [batch, 64] state `iterations` times before a zero head; each
    iteration is a separate kernel launch (about 17 µs at batch 4096 on the CI machine), so a test can
    catch a worker in the middle of a batch without racing a matrix multiply.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from aiworld.mobs.onnx_export import IR_VERSION, OPSET
    from aiworld.mobs.state import MODEL_ACTIONS, STATE_SIZE

    f32 = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Identity", ["go_in"], ["go_out"]), helper.make_node("Relu", ["x_in"], ["x_out"])],
        "spin",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("go_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", f32, ["batch", STATE_SIZE])],
        [helper.make_tensor_value_info("go_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", f32, ["batch", STATE_SIZE])])
    inits = [numpy_helper.from_array(np.array(iterations, np.int64), "trips"),
             numpy_helper.from_array(np.array(True), "go"),
             numpy_helper.from_array(np.zeros((STATE_SIZE, MODEL_ACTIONS), np.float32), "head")]
    nodes = [helper.make_node("Loop", ["trips", "go", "state"], ["spun"], body=body),
             helper.make_node("MatMul", ["spun", "head"], ["action_logits"])]
    graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("state", f32, ["batch", STATE_SIZE])],
                              [helper.make_tensor_value_info("action_logits", f32, ["batch", MODEL_ACTIONS])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aiworld-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path
