"""The program that runs a company's model, inside the sandbox; nothing else ever loads the model.

Started by ``runner`` (through ``jail``) as ``python -I -B child.py JOB_FILE FIRST_CASE [SITE]`` in
network, IPC, mount and PID namespaces of its own, under an unprivileged identity and resource limits, in a
folder it may only read. It imports the standard library, NumPy and ONNX Runtime only (no Django, no project
code: ``-I`` keeps the project off ``sys.path``), and it writes nothing but lines of JSON on stdout:

    {"versions": {"python": ..., "numpy": ..., "onnxruntime": ...}}     first, before the model is loaded
    {"ready": true}                                                     the model is loaded
    {"fatal": "..."}                                                    the model could not be loaded
    {"case_id": "...", "output": [...]} or {"case_id": "...", "error": "..."}    one per case, in order
    {"done": true}

The job file (JSON) lists the cases as ``[case_id, relative .npy path]``, names an empty folder to work in
and says what the output is. Cases run one at a time from FIRST_CASE on: when one takes too long or kills
the process, the runner starts a new child on the cases after it. SITE, when given, is the folder NumPy and
ONNX Runtime are installed in, for an interpreter other than the worker's own.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import sys
import time
import zlib
from typing import Any

# Raw outputs of classification and detection models are small; more than this is not a real output.
MAX_OUTPUT_ELEMENTS = 4_000_000
# The runner sets this only when a test asks it to (``sandbox_run(test_hooks=...)``): {case_id: {"sleep":
# seconds}, {"abort": true}, {"repeat_ready": true} or {"setsid": true}}, to make a case slow, the process
# die, the child say it is ready again and again instead of answering, or leave its process group. A model
# cannot set an environment variable, so it cannot reach these.
TEST_HOOKS_VARIABLE = "MEDBROKER_SANDBOX_TEST_HOOKS"
MASK_TYPES = ("mask_probability", "mask_labels")


def _write(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(json.dumps(message, separators=(",", ":")).encode("ascii") + b"\n")
    sys.stdout.buffer.flush()


def _mask_encode(array: Any, output: dict[str, Any]) -> dict[str, Any]:
    """The model's mask output as a label map, compressed: a volume as a JSON list would be gigabytes."""
    import numpy as np

    spatial = tuple(output["spatial_shape"])
    values = np.asarray(array)
    if values.ndim > len(spatial) and values.shape[0] == 1:
        values = values[0]
    if values.ndim == len(spatial) + 1:
        values = np.moveaxis(values, -1, 0) if output["channels_last"] else values
    elif values.ndim == len(spatial):
        values = values[np.newaxis]
    else:
        raise ValueError(f"mask output of shape {list(np.shape(array))} for input size {list(spatial)}")
    if tuple(values.shape[1:]) != spatial:
        raise ValueError(f"mask output of shape {list(np.shape(array))} for input size {list(spatial)}")
    if not np.isfinite(values).all():
        raise ValueError("mask output has NaN or infinite values")
    if output["type"] == "mask_labels":
        if values.shape[0] != 1:
            raise ValueError("a label map output must have one channel")
        labels = np.rint(values[0])
    elif values.shape[0] == 1:
        labels = values[0] >= output["threshold"]
    else:
        # Several channels: one per label, the first being the background.
        labels = np.argmax(values, axis=0)
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError("labels must lie between 0 and 65535")
    dtype = np.uint8 if not labels.size or labels.max() < 256 else np.uint16
    data = np.ascontiguousarray(labels, dtype=dtype).tobytes()
    return {
        "shape": list(spatial),
        "dtype": np.dtype(dtype).name,
        "data": base64.b64encode(zlib.compress(data, 6)).decode("ascii"),
    }


def _output(array: Any, output: dict[str, Any]) -> Any:
    import numpy as np

    if output["type"] in MASK_TYPES:
        return _mask_encode(array, output)
    values = np.asarray(array)
    if values.size > MAX_OUTPUT_ELEMENTS:
        raise ValueError(f"output of {values.size} values is too large")
    return np.asarray(values, dtype=np.float64).tolist()


def main(argv: list[str]) -> int:
    job_path, first = argv[1], int(argv[2])
    if len(argv) > 3:
        sys.path[:0] = [argv[3]]
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    folder = os.path.dirname(os.path.abspath(job_path))
    # ONNX Runtime reads a model's "external data" files relative to the working folder, even for a model
    # loaded from bytes: in an empty folder a model can name no file of the job (the job file, the inputs)
    # to load as its constants. The child stays there; it reads the inputs by their full paths.
    os.chdir(os.path.join(folder, job["workdir"]))

    import numpy as np
    import onnxruntime

    # Errors only: a failed case is reported on stdout already, warnings are noise in a crash's detail.
    onnxruntime.set_default_logger_severity(3)
    _write(
        {
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "onnxruntime": onnxruntime.__version__,
            }
        }
    )
    # The model is read only now, after the versions line: a child that ends before that line never had
    # anything of the model, and the runner blames the sandbox, not the model, for it.
    try:
        with open(os.path.join(folder, job["model"]), "rb") as handle:
            model = handle.read()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(job["threads"])
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        del model
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"the model has {len(inputs)} inputs; exactly one is supported")
        input_name = inputs[0].name
    except Exception as error:
        _write({"fatal": f"{type(error).__name__}: {error}"[:2000]})
        return 3
    _write({"ready": True})

    hooks = json.loads(os.environ.get(TEST_HOOKS_VARIABLE) or "{}")
    dtype = job.get("input_dtype", "float32")
    for case_id, relative in job["cases"][first:]:
        hook = hooks.get(case_id) or {}
        if hook.get("setsid"):
            os.setsid()
        if hook.get("sleep"):
            time.sleep(float(hook["sleep"]))
        if hook.get("abort"):
            os.abort()
        while hook.get("repeat_ready"):
            _write({"ready": True})
            time.sleep(0.1)
        try:
            case = np.load(os.path.join(folder, relative), allow_pickle=False)
            if dtype == "uint8":
                case = np.clip(np.rint(case), 0, 255).astype(np.uint8)
            elif dtype != "float32":
                case = case.astype(dtype)
            result = session.run(None, {input_name: case})
            _write({"case_id": case_id, "output": _output(result[0], job["output"])})
        except Exception as error:
            _write({"case_id": case_id, "error": f"{type(error).__name__}: {error}"[:2000]})
    _write({"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
