"""Small, exact test data for performance tests: ONNX models built with ``onnx.helper`` and test sets.

Everything is generated from a seed (the same seed, the same bytes) and kept tiny (32×32 images), so tests
and the demo can state exactly what a run must find. The models are ONNX opset 17, IR version 8, which every
ONNX Runtime from 1.20 on loads:

- the binary classifier: ``probability = sigmoid(a · mean(pixels) + b)``, input [1, 1, 32, 32], output [1, 1];
- the three-class classifier: softmax over three linear functions of the mean;
- the segmentation model: ``pixels > threshold`` as a label map;
- the detection model: one 5×5 box centred on the brightest pixel, scored by its value;
- hostile models for the sandbox's tests (``hostile_model_bytes``).

The test sets come as the two uploads of ``test_set_cases_import``: the cases CSV and the ZIP of inputs
(and masks). Brighter images are the positives (binary), the higher classes (multi-class), the lesions.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
IR_VERSION = 8
SIZE = 32
CLASSIFIER_A = 10.0
CLASSIFIER_B = -5.0
MULTICLASS_CLASSES = ["정상", "양성 결절", "악성 결절"]
# class k's logit is WEIGHTS[k] · mean + BIASES[k]: class 0 wins below a mean of 1/3, class 2 above 2/3.
MULTICLASS_WEIGHTS = (-18.0, 0.0, 18.0)
MULTICLASS_BIASES = (6.0, 0.0, -12.0)
BOX = 5
_ATTRIBUTES = {
    "institution": ("경북대학교병원", "계명대학교동산병원"),
    "manufacturer": ("GE", "Siemens"),
    "age_group": ("40대", "50대", "60대", "70대"),
    "sex": ("M", "F"),
}
# Each attribute changes value every STRIDE positions, so the attributes are not all the same split of the
# cases (every hospital with one manufacturer and one sex).
_ATTRIBUTE_STRIDES = {"institution": 1, "manufacturer": 2, "age_group": 1, "sex": 4}


def _model(
    nodes: list[Any],
    inputs: list[Any],
    outputs: list[Any],
    initializers: list[Any] | None = None,
    name: str = "medbroker-test",
) -> bytes:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers or [])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="medbroker-testdata",
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _image_input(name: str = "image") -> Any:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, SIZE, SIZE])


def _scalar(name: str, value: float) -> Any:
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def tiny_classifier_model_bytes(a: float = CLASSIFIER_A, b: float = CLASSIFIER_B) -> bytes:
    """Input [1, 1, 32, 32]; output ``probability`` [1, 1] = sigmoid(a · mean(pixels) + b)."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "a"], ["scaled"]),
        helper.make_node("Add", ["scaled", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    return _model(
        nodes,
        [_image_input()],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [1, 1])],
        [_scalar("a", a), _scalar("b", b)],
    )


def classifier_probability(image: np.ndarray, a: float = CLASSIFIER_A, b: float = CLASSIFIER_B) -> float:
    """What the tiny classifier gives for ``image`` (computed in float32 like ONNX Runtime, for tests)."""
    mean = np.float32(np.mean(np.asarray(image, dtype=np.float32), dtype=np.float32))
    logit = np.float32(np.float32(a) * mean + np.float32(b))
    return float(1 / (1 + np.exp(-np.float64(logit))))


def multiclass_model_bytes() -> bytes:
    """Input [1, 1, 32, 32]; output ``probabilities`` [1, 3]: softmax of (w_k · mean + c_k)."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "weights"], ["scaled"]),
        helper.make_node("Add", ["scaled", "biases"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    return _model(
        nodes,
        [_image_input()],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 3])],
        [
            helper.make_tensor("weights", TensorProto.FLOAT, [1, 3], list(MULTICLASS_WEIGHTS)),
            helper.make_tensor("biases", TensorProto.FLOAT, [1, 3], list(MULTICLASS_BIASES)),
        ],
    )


def segmentation_model_bytes(threshold: float = 0.5) -> bytes:
    """Input [1, 1, 32, 32]; output ``labels`` [1, 1, 32, 32] int64: 1 where a pixel exceeds ``threshold``."""
    nodes = [
        helper.make_node("Greater", ["image", "threshold"], ["foreground"]),
        helper.make_node("Cast", ["foreground"], ["labels"], to=TensorProto.INT64),
    ]
    return _model(
        nodes,
        [_image_input()],
        [helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 1, SIZE, SIZE])],
        [_scalar("threshold", threshold)],
    )


def detection_model_bytes() -> bytes:
    """Input [1, 1, 32, 32]; output ``boxes`` [1, 1, 5]: a 5×5 box [x, y, w, h] centred on the brightest
    pixel, its score the pixel's value."""
    half = float(BOX // 2)
    nodes = [
        helper.make_node("Reshape", ["image", "flat_shape"], ["flat"]),
        helper.make_node("ArgMax", ["flat"], ["index"], axis=1, keepdims=1),
        helper.make_node("ReduceMax", ["flat"], ["score"], axes=[1], keepdims=1),
        helper.make_node("Div", ["index", "width"], ["row"]),
        helper.make_node("Mod", ["index", "width"], ["column"]),
        helper.make_node("Cast", ["row"], ["row_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["column"], ["column_f"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["column_f", "half"], ["x"]),
        helper.make_node("Sub", ["row_f", "half"], ["y"]),
        helper.make_node("Concat", ["x", "y", "box_size", "box_size", "score"], ["box"], axis=1),
        helper.make_node("Reshape", ["box", "boxes_shape"], ["boxes"]),
    ]
    return _model(
        nodes,
        [_image_input()],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 1, 5])],
        [
            helper.make_tensor("flat_shape", TensorProto.INT64, [2], [1, SIZE * SIZE]),
            helper.make_tensor("width", TensorProto.INT64, [], [SIZE]),
            helper.make_tensor("half", TensorProto.FLOAT, [], [half]),
            helper.make_tensor("box_size", TensorProto.FLOAT, [1, 1], [float(BOX)]),
            helper.make_tensor("boxes_shape", TensorProto.INT64, [3], [1, 1, 5]),
        ],
    )


def hostile_model_bytes(kind: str) -> bytes:
    """Models that misbehave, for the sandbox's tests.

    ``memory``: the tiny classifier, plus a tensor of max(pixels) · 10⁹ float32 values (4 GB for a case
    whose brightest pixel is 1; nothing for an all-black case), so only some cases break the memory limit.
    ``nan``: outputs NaN for every case (0 / 0). ``garbage``: bytes that start like an ONNX model and are
    not one (it does not load). A model that sleeps or loops for ever cannot be written in ONNX; the
    timeout is tested through the runner's test delay instead.
    """
    if kind == "garbage":
        return b"\x08\x08\x12\x04junk" + bytes(range(256)) * 4
    if kind == "nan":
        nodes = [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("Sub", ["mean", "mean"], ["zero"]),
            helper.make_node("Div", ["zero", "zero"], ["probability"]),
        ]
        return _model(
            nodes, [_image_input()], [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [1, 1])]
        )
    if kind == "memory":
        nodes = [
            helper.make_node("ReduceMax", ["image"], ["brightest"], keepdims=0),
            helper.make_node("Mul", ["brightest", "billion"], ["count_f"]),
            helper.make_node("Cast", ["count_f"], ["count"], to=TensorProto.INT64),
            helper.make_node("Reshape", ["count", "one"], ["shape"]),
            helper.make_node(
                "ConstantOfShape",
                ["shape"],
                ["block"],
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]),
            ),
            helper.make_node("ReduceSum", ["block"], ["total"], keepdims=1),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("Mul", ["mean", "a"], ["scaled"]),
            helper.make_node("Add", ["scaled", "b"], ["logit_raw"]),
            helper.make_node("Add", ["logit_raw", "nothing"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["probability"]),
        ]
        return _model(
            nodes,
            [_image_input()],
            [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [1, 1])],
            [
                _scalar("billion", 1e9),
                helper.make_tensor("one", TensorProto.INT64, [1], [1]),
                _scalar("zero", 0.0),
                _scalar("a", CLASSIFIER_A),
                _scalar("b", CLASSIFIER_B),
            ],
        )
    raise ValueError(f"unknown hostile model: {kind}")


# ---------------------------------------------------------------------------------------------------------
# Manifests of the models above
# ---------------------------------------------------------------------------------------------------------


def _manifest(output: dict[str, Any]) -> dict[str, Any]:
    return {
        "input": {
            "shape": [1, 1, SIZE, SIZE],
            "layout": "NCHW",
            "dtype": "float32",
            "normalisation": {"type": "none"},
        },
        "output": output,
    }


CLASSIFIER_MANIFEST = _manifest({"type": "probability"})
MULTICLASS_MANIFEST = _manifest({"type": "softmax"})
SEGMENTATION_MANIFEST = _manifest({"type": "mask_labels"})
DETECTION_MANIFEST = _manifest({"type": "boxes"})


# ---------------------------------------------------------------------------------------------------------
# Test sets
# ---------------------------------------------------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _attributes(position: int) -> dict[str, str]:
    return {
        name: values[(position // _ATTRIBUTE_STRIDES[name]) % len(values)]
        for name, values in _ATTRIBUTES.items()
    }


def _files(rows: list[dict[str, Any]], members: dict[str, bytes]) -> tuple[bytes, bytes]:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, content in members.items():
            # A fixed date: the same seed gives the same bytes.
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, content)
    return text.getvalue().encode("utf-8"), archive.getvalue()


def _image(rng: np.random.Generator, level: float) -> np.ndarray:
    noise = rng.normal(0.0, 0.05, size=(SIZE, SIZE))
    return np.clip(level + noise, 0.0, 1.0).astype(np.float32)


def classification_test_set_files(n_cases: int = 40, seed: int = 0) -> tuple[bytes, bytes]:
    """A binary test set: (cases CSV, ZIP of ``inputs/<case_id>.npy``). Half the cases are positives, whose
    images are brighter on average; the brightness ranges overlap, so the tiny classifier makes mistakes.

    Labels alternate, so the attributes follow each pair of cases (``index // 2``), not the case: taken
    from the case's own index they would split the cases exactly as the labels do, and every subgroup
    would hold one class only (no sensitivity or no specificity to compute in it)."""
    rng = np.random.default_rng(seed)
    rows, members = [], {}
    for index in range(n_cases):
        case_id = f"C{index + 1:04d}"
        label = index % 2
        level = rng.uniform(0.42, 0.8) if label else rng.uniform(0.2, 0.58)
        name = f"inputs/{case_id}.npy"
        members[name] = _npy(_image(rng, level))
        rows.append({"case_id": case_id, "label": label, "input": name, **_attributes(index // 2)})
    return _files(rows, members)


def multiclass_test_set_files(n_cases: int = 30, seed: int = 0) -> tuple[bytes, bytes]:
    """A three-class test set (classes ``MULTICLASS_CLASSES``): class k's images around (2k + 1) / 6 bright."""
    rng = np.random.default_rng(seed)
    rows, members = [], {}
    for index in range(n_cases):
        case_id = f"M{index + 1:04d}"
        label = index % 3
        level = (2 * label + 1) / 6 + rng.uniform(-0.2, 0.2)
        name = f"inputs/{case_id}.npy"
        members[name] = _npy(_image(rng, level))
        rows.append({"case_id": case_id, "label": label, "input": name, **_attributes(index)})
    return _files(rows, members)


def segmentation_test_set_files(n_cases: int = 12, seed: int = 0) -> tuple[bytes, bytes]:
    """A one-structure segmentation test set: a bright rectangle (the mask, label 1) on a dark, noisy
    background whose brightest pixels pass the model's threshold, so the model's masks are not perfect.
    Every fourth case has no structure at all (an empty mask)."""
    rng = np.random.default_rng(seed)
    rows, members = [], {}
    for index in range(n_cases):
        case_id = f"S{index + 1:04d}"
        mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
        image = np.clip(rng.normal(0.3, 0.1, size=(SIZE, SIZE)), 0, 1)
        if index % 4 != 3:
            top, left = rng.integers(2, 16, size=2)
            height, width = rng.integers(6, 14, size=2)
            mask[top : top + height, left : left + width] = 1
            image[mask == 1] = np.clip(rng.normal(0.8, 0.1, size=int(mask.sum())), 0, 1)
        members[f"inputs/{case_id}.npy"] = _npy(image.astype(np.float32))
        members[f"masks/{case_id}.npy"] = _npy(mask)
        rows.append(
            {
                "case_id": case_id,
                "mask": f"masks/{case_id}.npy",
                "input": f"inputs/{case_id}.npy",
                **_attributes(index),
            }
        )
    return _files(rows, members)


def detection_test_set_files(n_cases: int = 12, seed: int = 0) -> tuple[bytes, bytes]:
    """A detection test set: two of three images hold one 5×5 lesion (peak 1.0 at its centre, 0.8 around)
    on a background below 0.6; the others hold none (``boxes`` "[]")."""
    rng = np.random.default_rng(seed)
    rows, members = [], {}
    for index in range(n_cases):
        case_id = f"D{index + 1:04d}"
        image = np.clip(rng.normal(0.3, 0.08, size=(SIZE, SIZE)), 0, 0.6).astype(np.float32)
        boxes: list[list[int]] = []
        if index % 3 != 2:
            x, y = (int(value) for value in rng.integers(2, SIZE - BOX - 2, size=2))
            image[y : y + BOX, x : x + BOX] = 0.8
            image[y + BOX // 2, x + BOX // 2] = 1.0
            boxes.append([x, y, BOX, BOX])
        members[f"inputs/{case_id}.npy"] = _npy(image)
        rows.append(
            {
                "case_id": case_id,
                "boxes": json.dumps(boxes),
                "input": f"inputs/{case_id}.npy",
                **_attributes(index),
            }
        )
    return _files(rows, members)


def archive_arrays(archive: bytes) -> dict[str, np.ndarray]:
    """The arrays of a test set's ZIP by member name (for tests that compute the expected results)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        return {
            name: np.load(io.BytesIO(zipped.read(name)), allow_pickle=False) for name in zipped.namelist()
        }
