"""The model manifest: what a company's model takes and gives, and the trusted code on both sides of it.

A manifest says the input's shape and layout, how a case becomes that input (window, normalisation) and
what the output means::

    {"input": {"shape": [1, 1, 32, 32], "layout": "NCHW", "dtype": "float32" | "float16" | "uint8",
               "normalisation": {"type": "none" | "minmax" | "zscore" | "scale", "mean": 0.0, "std": 1.0,
                                 "scale": 255.0},
               "window": {"center": 40, "width": 400}},
     "output": {"type": "probability" | "logit" | "softmax" | "logits" | "boxes" | "mask_probability"
                       | "mask_labels", "positive_index": 1, "threshold": 0.5}}

``case_preprocess`` runs in the worker, before the sandbox starts: reading DICOM or NumPy files is the lab's
code on the lab's data, and the sandboxed process then gets nothing but ready arrays. ``output_interpret``
turns what the model gave for one case into the value the metrics read, checking it on the way: the model's
output is untrusted, and a value that is not what the manifest promised makes that case fail, not the run.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from django.utils.translation import gettext as _
from scipy import ndimage

from medbroker.core.errors import DomainError

# Layouts by spatial rank: N (batch, always 1: cases run one at a time), C (channels), then the spatial axes
# in the order the lab's arrays have them (D, H, W for volumes; L, the samples, for time series).
LAYOUTS: dict[str, int] = {"NCHW": 2, "NHWC": 2, "NCDHW": 3, "NDHWC": 3, "NCL": 1, "NLC": 1}
DEFAULT_LAYOUT_BY_RANK = {3: "NCL", 4: "NCHW", 5: "NCDHW"}
OUTPUT_TYPES_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("probability", "logit", "softmax", "logits"),
    "multiclass": ("softmax", "logits"),
    "detection": ("boxes",),
    "segmentation": ("mask_probability", "mask_labels"),
}
NORMALISATIONS = ("none", "minmax", "zscore", "scale")
# The prepared float32 input is cast to this in the sandbox (uint8: rounded and clipped to 0..255).
INPUT_DTYPES = ("float32", "float16", "uint8")
MAX_SPATIAL_SIZE = 4096
MAX_CHANNELS = 64
# One case's input at most 256 MiB as float32: the worker writes every case before the sandbox starts.
MAX_INPUT_ELEMENTS = 64 * 1024 * 1024
# Boxes kept per image (the highest scores): a model returning millions of boxes must not stall the metrics.
MAX_BOXES = 1000
# A probability a little outside [0, 1] is rounding in the model's arithmetic, not a broken output.
PROBABILITY_TOLERANCE = 1e-6


class CaseError(ValueError):
    """A case that cannot be prepared or whose output is not what the manifest says (the case fails)."""


def _invalid(message: str) -> DomainError:
    return DomainError("manifest_invalid", message, field="manifest")


def _finite(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise _invalid(_("모델 설명서의 %(label)s은(는) 숫자여야 합니다.") % {"label": label})
    return float(value)


def _input_validate(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _invalid(_("모델 설명서에 input 항목이 없습니다."))
    shape = data.get("shape")
    if (
        not isinstance(shape, list)
        or not 3 <= len(shape) <= 5
        or any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in shape)
    ):
        raise _invalid(_("입력 크기(shape)는 3~5개의 양의 정수 목록이어야 합니다 (예: [1, 1, 32, 32])."))
    layout = data.get("layout") or DEFAULT_LAYOUT_BY_RANK[len(shape)]
    if layout not in LAYOUTS or len(layout) != len(shape):
        raise _invalid(
            _(
                "입력 배치(layout) %(layout)s은(는) 입력 크기와 맞지 않거나 지원하지 않습니다. 지원: %(allowed)s"
            )
            % {"layout": layout, "allowed": ", ".join(LAYOUTS)}
        )
    if shape[0] != 1:
        raise _invalid(_("입력의 배치 크기(N)는 1이어야 합니다: 증례를 하나씩 실행합니다."))
    channels = shape[layout.index("C")]
    spatial = [size for axis, size in zip(layout, shape, strict=True) if axis not in "NC"]
    if channels > MAX_CHANNELS or max(spatial) > MAX_SPATIAL_SIZE or math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise _invalid(_("입력 크기가 너무 큽니다."))
    dtype = data.get("dtype", "float32")
    if dtype not in INPUT_DTYPES:
        raise _invalid(_("입력 자료형(dtype)은 float32, float16, uint8 중 하나여야 합니다."))
    normalisation_in = data.get("normalisation") or {"type": "none"}
    if not isinstance(normalisation_in, dict) or normalisation_in.get("type", "none") not in NORMALISATIONS:
        raise _invalid(_("정규화(normalisation) 종류는 none, minmax, zscore, scale 중 하나여야 합니다."))
    kind = normalisation_in.get("type", "none")
    normalisation: dict[str, Any] = {"type": kind}
    if kind == "zscore":
        normalisation["mean"] = _finite(normalisation_in.get("mean", 0.0), "mean")
        normalisation["std"] = _finite(normalisation_in.get("std", 1.0), "std")
        if normalisation["std"] <= 0:
            raise _invalid(_("zscore 정규화의 std는 0보다 커야 합니다."))
    elif kind == "scale":
        normalisation["scale"] = _finite(normalisation_in.get("scale", 255.0), "scale")
        if normalisation["scale"] == 0:
            raise _invalid(_("scale 정규화의 scale은 0이 아니어야 합니다."))
    window_in = data.get("window")
    window = None
    if window_in is not None:
        if not isinstance(window_in, dict):
            raise _invalid(_("창(window) 설정은 center와 width를 가져야 합니다."))
        window = {
            "center": _finite(window_in.get("center"), "window.center"),
            "width": _finite(window_in.get("width"), "window.width"),
        }
        if window["width"] <= 0:
            raise _invalid(_("창(window)의 width는 0보다 커야 합니다."))
    return {
        "shape": list(shape),
        "layout": layout,
        "dtype": dtype,
        "normalisation": normalisation,
        "window": window,
    }


def manifest_validate(manifest: Any, *, task_type: str) -> dict[str, Any]:
    """The manifest checked for ``task_type`` and completed with defaults; ``DomainError`` (field "manifest")
    names the first problem."""
    if not isinstance(manifest, dict):
        raise _invalid(_("모델 설명서(manifest)를 입력해 주세요."))
    unknown = set(manifest) - {"input", "output"}
    if unknown:
        raise _invalid(
            _("모델 설명서에 알 수 없는 항목이 있습니다: %(keys)s") % {"keys": ", ".join(sorted(unknown))}
        )
    model_input = _input_validate(manifest.get("input"))
    output_in = manifest.get("output")
    if not isinstance(output_in, dict):
        raise _invalid(_("모델 설명서에 output 항목이 없습니다."))
    allowed = OUTPUT_TYPES_BY_TASK.get(task_type, ())
    kind = output_in.get("type")
    if kind not in allowed:
        raise _invalid(
            _("이 과제의 출력 종류(output.type)는 %(allowed)s 중 하나여야 합니다.")
            % {"allowed": ", ".join(allowed)}
        )
    positive_index = output_in.get("positive_index", 1)
    if (
        isinstance(positive_index, bool)
        or not isinstance(positive_index, int)
        or not 0 <= positive_index < 64
    ):
        raise _invalid(_("양성 클래스 위치(positive_index)는 0 이상의 정수여야 합니다."))
    threshold = _finite(output_in.get("threshold", 0.5), "output.threshold")
    if not 0 <= threshold <= 1:
        raise _invalid(_("출력 임계값(output.threshold)은 0과 1 사이여야 합니다."))
    return {
        "input": model_input,
        "output": {"type": kind, "positive_index": positive_index, "threshold": threshold},
    }


# ---------------------------------------------------------------------------------------------------------
# Cases in
# ---------------------------------------------------------------------------------------------------------


def spatial_shape(manifest: dict[str, Any]) -> tuple[int, ...]:
    layout, shape = manifest["input"]["layout"], manifest["input"]["shape"]
    return tuple(size for axis, size in zip(layout, shape, strict=True) if axis not in "NC")


def case_read(path: Path) -> np.ndarray:
    """A case's array as stored by the lab: ``.npy`` as is, DICOM rescaled to its physical unit (HU for CT)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.asarray(np.load(path, allow_pickle=False))
    if suffix in (".dcm", ".dicom"):
        import pydicom

        dataset = pydicom.dcmread(path)
        pixels = np.asarray(dataset.pixel_array, dtype=np.float64)
        slope = float(getattr(dataset, "RescaleSlope", 1) or 1)
        intercept = float(getattr(dataset, "RescaleIntercept", 0) or 0)
        pixels = pixels * slope + intercept
        if int(getattr(dataset, "SamplesPerPixel", 1) or 1) > 1:
            # Colour comes last in pydicom's arrays; channels come first in ours.
            pixels = np.moveaxis(pixels, -1, 0)
        return pixels
    raise CaseError(_("지원하지 않는 입력 파일 형식입니다: %(name)s") % {"name": path.name})


def _channels_first(array: np.ndarray, channels: int, rank: int) -> np.ndarray:
    if array.ndim == rank:
        array = array[np.newaxis]
    elif array.ndim != rank + 1:
        raise CaseError(
            _("입력 배열의 차원(%(ndim)d)이 모델 입력(공간 %(rank)d차원)과 맞지 않습니다.")
            % {"ndim": array.ndim, "rank": rank}
        )
    if array.shape[0] == channels:
        return array
    if array.shape[0] == 1:
        # A grey-scale case for a model trained on three channels: the same image in each.
        return np.repeat(array, channels, axis=0)
    raise CaseError(
        _("입력 채널 수(%(have)d)가 모델 입력 채널 수(%(want)d)와 다릅니다.")
        % {"have": array.shape[0], "want": channels}
    )


def _normalise(array: np.ndarray, model_input: dict[str, Any]) -> np.ndarray:
    window = model_input.get("window")
    if window:
        low = window["center"] - window["width"] / 2
        array = np.clip(array, low, low + window["width"])
    normalisation = model_input["normalisation"]
    kind = normalisation["type"]
    if kind == "minmax":
        low, high = float(array.min()), float(array.max())
        return (array - low) / (high - low) if high > low else np.zeros_like(array)
    if kind == "zscore":
        return (array - normalisation["mean"]) / normalisation["std"]
    if kind == "scale":
        return array / normalisation["scale"]
    return array


def case_prepare(path: Path, manifest: dict[str, Any]) -> tuple[np.ndarray, tuple[int, ...]]:
    """The model's input for the case at ``path`` and the case's own spatial shape (to map outputs back)."""
    model_input = manifest["input"]
    layout, shape = model_input["layout"], model_input["shape"]
    rank = LAYOUTS[layout]
    array = case_read(path)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise CaseError(_("입력 배열이 숫자가 아닙니다: %(name)s") % {"name": path.name})
    array = _channels_first(np.asarray(array, dtype=np.float64), shape[layout.index("C")], rank)
    original = tuple(int(size) for size in array.shape[1:])
    if not np.isfinite(array).all():
        raise CaseError(_("입력 배열에 NaN 또는 무한대 값이 있습니다: %(name)s") % {"name": path.name})
    array = _normalise(array, model_input)
    target = spatial_shape(manifest)
    if original != target:
        factors = (1.0, *(want / have for want, have in zip(target, original, strict=True)))
        array = ndimage.zoom(array, factors, order=1)
        if tuple(array.shape[1:]) != target:
            raise CaseError(_("입력 크기를 모델 입력 크기로 바꾸지 못했습니다."))
    if layout.endswith("C"):
        array = np.moveaxis(array, 0, -1)
    return np.ascontiguousarray(array[np.newaxis], dtype=np.float32), original


def case_preprocess(path: Path, manifest: dict[str, Any]) -> np.ndarray:
    """The case at ``path`` (``.npy`` or DICOM) as the model's float32 input: window, then normalisation, then
    linear resizing to the manifest's spatial size, with the batch and channel axes in the manifest's layout."""
    return case_prepare(path, manifest)[0]


# ---------------------------------------------------------------------------------------------------------
# Outputs back
# ---------------------------------------------------------------------------------------------------------


def _numbers(raw: Any) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise CaseError(_("모델 출력이 숫자 배열이 아닙니다.")) from None
    if array.size == 0 or not np.isfinite(array).all():
        raise CaseError(_("모델 출력이 비어 있거나 NaN 또는 무한대 값이 있습니다."))
    return array


def _probability(value: float) -> float:
    if not -PROBABILITY_TOLERANCE <= value <= 1 + PROBABILITY_TOLERANCE:
        raise CaseError(_("모델 출력 확률이 0과 1 사이가 아닙니다: %(value)s") % {"value": value})
    return min(1.0, max(0.0, value))


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return np.asarray(shifted / shifted.sum())


def _class_probabilities(flat: np.ndarray, kind: str, classes: int) -> list[float]:
    if flat.size != classes:
        raise CaseError(
            _("모델 출력 크기(%(size)d)가 클래스 수(%(classes)d)와 다릅니다.")
            % {"size": flat.size, "classes": classes}
        )
    probabilities = _softmax(flat) if kind == "logits" else flat
    return [_probability(float(value)) for value in probabilities]


def _binary_score(flat: np.ndarray, kind: str, positive_index: int) -> float:
    if kind in ("softmax", "logits"):
        if flat.size < 2 or positive_index >= flat.size:
            raise CaseError(_("모델 출력에 양성 클래스 위치(positive_index)의 값이 없습니다."))
        probabilities = _softmax(flat) if kind == "logits" else flat
        return _probability(float(probabilities[positive_index]))
    if flat.size == 1:
        value = float(flat[0])
    elif positive_index < flat.size:
        value = float(flat[positive_index])
    else:
        raise CaseError(_("모델 출력에 양성 클래스 위치(positive_index)의 값이 없습니다."))
    if kind == "logit":
        return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1.0 + math.exp(value))
    return _probability(value)


def _boxes(array: np.ndarray, scale: tuple[float, float]) -> list[list[float]]:
    if array.size % 5:
        raise CaseError(_("검출 출력은 [x, y, w, h, score] 5개 값의 묶음이어야 합니다."))
    boxes = array.reshape(-1, 5)
    if (boxes[:, 2:4] < 0).any():
        raise CaseError(_("검출 상자의 너비와 높이는 0 이상이어야 합니다."))
    order = np.argsort(-boxes[:, 4], kind="stable")[:MAX_BOXES]
    scale_x, scale_y = scale
    return [
        [float(x * scale_x), float(y * scale_y), float(w * scale_x), float(h * scale_y), float(score)]
        for x, y, w, h, score in boxes[order]
    ]


def _mask_decode(payload: Any, model_shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(payload, dict) or payload.get("dtype") not in ("uint8", "uint16"):
        raise CaseError(_("분할 출력 형식이 올바르지 않습니다."))
    if list(payload.get("shape") or []) != list(model_shape):
        raise CaseError(
            _("분할 출력 크기 %(have)s이(가) 모델 입력 크기 %(want)s와 다릅니다.")
            % {"have": payload.get("shape"), "want": list(model_shape)}
        )
    dtype = np.dtype(payload["dtype"])
    expected = math.prod(model_shape) * dtype.itemsize
    try:
        compressed = base64.b64decode(str(payload.get("data", "")), validate=True)
        # Bounded: a tiny compressed payload must not expand into gigabytes in the worker.
        decompressor = zlib.decompressobj()
        data = decompressor.decompress(compressed, expected + 1)
    except (binascii.Error, zlib.error):
        raise CaseError(_("분할 출력을 읽을 수 없습니다.")) from None
    if len(data) != expected or decompressor.unconsumed_tail:
        raise CaseError(_("분할 출력의 크기가 맞지 않습니다."))
    return np.frombuffer(data, dtype=dtype).reshape(model_shape)


def mask_resize(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A label map resized by nearest neighbour (labels must not blend) to ``shape``."""
    if tuple(mask.shape) == tuple(shape):
        return mask
    index = np.ix_(
        *(
            np.minimum((np.arange(want) + 0.5) * have / want, have - 1).astype(np.intp)
            for want, have in zip(shape, mask.shape, strict=True)
        )
    )
    return np.asarray(mask[index])


def output_interpret(
    raw: Any, manifest: dict[str, Any], *, task_type: str, classes: int, original_shape: tuple[int, ...]
) -> Any:
    """What the metrics read for one case, from the model's raw output (as the sandbox sent it).

    binary: the positive class's probability (float); multiclass: the class probabilities (list); detection:
    boxes ``[x, y, w, h, score]`` in the case's own pixels, best first; segmentation: the label map (uint8 or
    uint16 array) in the case's own shape. Raises ``CaseError`` for an output that breaks the manifest.
    """
    output = manifest["output"]
    kind = output["type"]
    model_shape = spatial_shape(manifest)
    if task_type == "segmentation":
        return mask_resize(_mask_decode(raw, model_shape), original_shape)
    array = _numbers(raw)
    if task_type == "detection":
        height_axis = -2 if len(model_shape) >= 2 else -1
        scale = (
            original_shape[-1] / model_shape[-1],
            original_shape[height_axis] / model_shape[height_axis],
        )
        return _boxes(array, scale)
    flat = array.reshape(-1)
    if task_type == "multiclass":
        return _class_probabilities(flat, kind, classes)
    return _binary_score(flat, kind, output["positive_index"])
