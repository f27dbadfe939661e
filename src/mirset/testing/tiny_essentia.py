"""Tiny stand-ins of the Essentia Discogs-EffNet ONNX models, with the real tensor names.

The embedding model takes ``melspectrogram`` (patches, 128, 96) and returns ``activations``
(patches, 400) and ``embeddings`` (patches, 1280); a head takes ``embeddings`` and returns
``activations`` (patches, classes), sigmoid for multi-label heads, softmax for 2-class ones. Random
weights, real ONNX files: loaded through the model store and the code users run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(nodes, inputs, outputs, weights: dict[str, np.ndarray], path: Path) -> Path:  # type: ignore[no-untyped-def]
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        nodes,
        path.stem,
        inputs,
        outputs,
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def save_effnet(path: Path, seed: int = 0) -> Path:
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    weights = {
        "axes": np.array([1], dtype=np.int64),
        "w_emb": (rng.standard_normal((96, 1280)) * 0.1).astype(np.float32),
        "w_act": (rng.standard_normal((1280, 400)) * 0.05).astype(np.float32),
    }
    nodes = [
        helper.make_node("ReduceMean", ["melspectrogram", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w_emb"], ["pre"]),
        helper.make_node("Relu", ["pre"], ["embeddings"]),
        helper.make_node("MatMul", ["embeddings", "w_act"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["activations"]),
    ]
    inputs = [helper.make_tensor_value_info("melspectrogram", TensorProto.FLOAT, ["n", 128, 96])]
    outputs = [
        helper.make_tensor_value_info("activations", TensorProto.FLOAT, ["n", 400]),
        helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n", 1280]),
    ]
    return _save(nodes, inputs, outputs, weights, path)


def save_head(
    path: Path, classes: int, softmax: bool = False, seed: int = 1, favour: int | None = None
) -> Path:
    """A head; ``favour``: that class gets probability ~1 on any input (to test label mapping)."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((1280, classes)) * 0.05).astype(np.float32)
    if favour is not None:
        w[:] = -1.0
        w[:, favour] = 1.0
    weights = {"w": w}
    act = (
        helper.make_node("Softmax", ["logits"], ["activations"], axis=-1)
        if softmax
        else (helper.make_node("Sigmoid", ["logits"], ["activations"]))
    )
    nodes = [helper.make_node("MatMul", ["embeddings", "w"], ["logits"]), act]
    inputs = [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n", 1280])]
    outputs = [helper.make_tensor_value_info("activations", TensorProto.FLOAT, ["n", classes])]
    return _save(nodes, inputs, outputs, weights, path)
