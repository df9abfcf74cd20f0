"""Export a trained network to the served ONNX files (FP32, FP16, INT8) and check each against torch.

`export_onnx(module, out_dir, stem, sample)` traces the module with torch's TorchScript exporter (the
torch.export-based one needs onnxscript, which the venv does not have, and the legacy tracer handles the
LSTM and the attention blocks with a dynamic batch axis), pins the IR version the serving onnxruntime
loads, then gives the FP32 graph the same FP16/INT8 treatment as every served model
(aiworld.mobs.onnx_export.write_precisions). Each file is run with onnxruntime on `sample` and compared
with torch; an INT8 file below MIN_AGREEMENT is quantized again per channel (finer weight scales) and checked
again; any agreement still below MIN_AGREEMENT raises ExportParityError (the files stay on disk, for a look).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from aiworld.mobs.onnx_export import IR_VERSION, OPSET, PRECISIONS, sha256_of, write_precisions
from aiworld.mobs.state import HISTORY_LENGTH, MODEL_ACTIONS, MODEL_OUTPUTS, STATE_SIZE
from trainers.networks import parameter_count, servable

MIN_AGREEMENT = 0.98
OUTPUT_NAME = "action_logits"
INPUT_SHAPES = {"state": (STATE_SIZE,), "history": (HISTORY_LENGTH, STATE_SIZE)}


@dataclass
class PrecisionReport:
    path: Path
    size_bytes: int
    sha256: str
    argmax_agreement: float
    max_abs_error: float
    quantized_nodes: int = 0  # INT8: nodes the quantizer replaced with integer kernels (0 = nothing was)
    per_channel: bool = False  # INT8: re-quantized per channel after the shared per-tensor INT8 missed parity


@dataclass
class ExportReport:
    stem: str
    model_type: str
    input_name: str
    parameters: int
    samples: int
    precisions: dict[str, PrecisionReport] = field(default_factory=dict)
    min_agreement: float = MIN_AGREEMENT

    @property
    def ok(self) -> bool:
        return all(p.argmax_agreement >= self.min_agreement for p in self.precisions.values())

    def summary(self) -> str:
        return ", ".join(f"{name}: agreement {p.argmax_agreement:.4f}, max |err| {p.max_abs_error:.3g}"
                         for name, p in self.precisions.items())

    def to_dict(self) -> dict:
        data = asdict(self)
        for p in data["precisions"].values():
            p["path"] = str(p["path"])
        return data


class ExportParityError(Exception):
    def __init__(self, report: ExportReport):
        self.report = report
        failing = [n for n, p in report.precisions.items() if p.argmax_agreement < report.min_agreement]
        super().__init__(f"{report.stem}: onnxruntime disagrees with torch ({', '.join(failing)} below "
                         f"{report.min_agreement}): {report.summary()}")


def gemm_to_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite Gemm(A, W, C) with a constant W as MatMul(A, W') + C, in place.

    torch exports a Linear on a [B, n] input as Gemm, and onnxruntime's dynamic (INT8) quantization only
    quantizes MatMul: without this every MLP's INT8 file would silently stay float. onnxruntime fuses
    MatMul + Add back into Gemm when it loads the FP32 file, so the FP32 model loses nothing.
    """
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    nodes = []
    replaced = set()
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        rewritable = (node.op_type == "Gemm" and node.input[1] in inits and not attrs.get("transA", 0)
                      and (len(node.input) < 3 or not node.input[2] or node.input[2] in inits
                           or attrs.get("beta", 1.0) == 1.0))
        if not rewritable:
            nodes.append(node)
            continue
        replaced.add(node.input[1])
        weight = numpy_helper.to_array(inits[node.input[1]])
        weight = (weight.T if attrs.get("transB", 0) else weight) * attrs.get("alpha", 1.0)
        base = node.name or node.output[0]
        weight_name = f"{base}.matmul_weight"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight, np.float32), weight_name))
        has_bias = len(node.input) >= 3 and bool(node.input[2])
        product = f"{base}.matmul_out" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight_name], [product], name=f"{base}.matmul"))
        if has_bias:
            bias_name = node.input[2]
            beta = attrs.get("beta", 1.0)
            if beta != 1.0:
                bias_name = f"{base}.bias"
                bias = numpy_helper.to_array(inits[node.input[2]]) * beta
                graph.initializer.append(numpy_helper.from_array(bias.astype(np.float32), bias_name))
            nodes.append(helper.make_node("Add", [product, bias_name], [node.output[0]], name=f"{base}.add"))
    del graph.node[:]
    graph.node.extend(nodes)
    # drop the original (transposed) weights no node reads any more; torch's graphs have no subgraphs
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used or init.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def torch_to_onnx(module: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """The module's forward as an FP32 ONNX model: input `state`/`history`, output `action_logits`, dynamic
    batch, opset OPSET, IR_VERSION, checked."""
    name = module.input_kind
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter's deprecation notice, and tracer notes about LSTM batch sizes: the batch
        # axis is dynamic and the tests run other batch sizes than the traced one
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=[name],
                          output_names=[OUTPUT_NAME], dynamic_axes={name: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    model = gemm_to_matmul(model)
    model.ir_version = IR_VERSION
    model.producer_name = "aiworld"
    helper.set_model_props(model, {"aiworld.model_type": str(getattr(module, "model_type", "")),
                                   "aiworld.input_kind": name})
    onnx.checker.check_model(model)
    return model


def _quantized_nodes(path: Path) -> int:
    integer_ops = {"MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM", "ConvInteger", "QAttention"}
    return sum(node.op_type in integer_ops for node in onnx.load(path).graph.node)


def quantize_per_channel(fp32_path: Path, int8_path: Path) -> None:
    """INT8 with one weight scale per output channel instead of one per tensor (write_precisions' choice).
    Finer weights; used only when the shared treatment misses parity (docs/models.md: INT8 caveats)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # the quantizer logs every tensor on the root logger
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)
    quantized = onnx.load(int8_path)
    quantized.ir_version = min(quantized.ir_version, IR_VERSION)
    onnx.save(quantized, int8_path)


def _compare(path: Path, sample: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    got = onnx_logits(path, sample)
    return (float((got.argmax(axis=1) == expected.argmax(axis=1)).mean()),
            float(np.abs(got.astype(np.float64) - expected).max()))


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    from trainers.evaluate import cpu_session

    session = cpu_session(path)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def export_onnx(module: nn.Module, out_dir: Path, stem: str, sample: np.ndarray, *,
                min_agreement: float = MIN_AGREEMENT) -> ExportReport:
    """Write <stem>.fp32/.fp16/.int8.onnx under out_dir and check each against torch on `sample`
    (float32 states [N, 64] or histories [N, 10, 64], by the module's input_kind). Raises ExportParityError
    when a precision's argmax agreement is below `min_agreement`; the files are left in place."""
    module = servable(module).cpu().eval()
    kind = module.input_kind
    if kind not in INPUT_SHAPES:
        raise ValueError(f"{stem}: input_kind {kind!r} is not one of {sorted(INPUT_SHAPES)}")
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    if sample.shape[1:] != INPUT_SHAPES[kind] or len(sample) == 0:
        wanted = ", ".join(map(str, INPUT_SHAPES[kind]))
        raise ValueError(f"{stem}: a {kind!r} model needs a sample [N, {wanted}], got {sample.shape}")
    with torch.no_grad():
        expected = module(torch.from_numpy(sample)).numpy()
    if expected.shape not in ((len(sample), MODEL_ACTIONS), (len(sample), MODEL_OUTPUTS)):
        raise ValueError(f"{stem}: forward gave {expected.shape}, the contract is [N, {MODEL_ACTIONS}] "
                         f"or [N, {MODEL_OUTPUTS}] (the 11th is action 255)")
    model = torch_to_onnx(module, torch.from_numpy(sample[:2]))
    paths = write_precisions(model, Path(out_dir), stem)
    report = ExportReport(stem=stem, model_type=str(getattr(module, "model_type", "")), input_name=kind,
                          parameters=parameter_count(module), samples=len(sample), min_agreement=min_agreement)
    for precision in PRECISIONS:
        path = paths[precision]
        agreement, error = _compare(path, sample, expected)
        per_channel = False
        if precision == "int8" and agreement < min_agreement:
            quantize_per_channel(paths["fp32"], path)
            agreement, error = _compare(path, sample, expected)
            per_channel = True
        report.precisions[precision] = PrecisionReport(
            path=path, size_bytes=path.stat().st_size, sha256=sha256_of(path), argmax_agreement=agreement,
            max_abs_error=error, quantized_nodes=_quantized_nodes(path) if precision == "int8" else 0,
            per_channel=per_channel)
    if not report.ok:
        raise ExportParityError(report)
    return report
