"""Feature extraction: exact OOM bytes, model names and folders, nodes, bounds, statuses."""

from __future__ import annotations

import pytest

from classifier.engine import classify
from classifier.features import to_bytes
from contracts.job import FailureEvidence, NodeError
from contracts.taxonomy import FailureClass as C

GIB, MIB = 2**30, 2**20
X = "execution_error"


def test_newer_pytorch_oom_format_gives_every_amount_in_bytes() -> None:
    message = (
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB"
        " of which 1.02 GiB is free. Of the allocated memory 20.1 GiB is allocated by PyTorch, and"
        " 1.3 GiB is reserved by PyTorch but unallocated."
    )
    features = classify(
        dict(surface=X, exception_type="torch.OutOfMemoryError", message=message)
    ).features
    assert features["requested_bytes"] == 2 * GIB
    assert features["total_bytes"] == round(23.65 * GIB)
    assert features["free_bytes"] == round(1.02 * GIB)
    assert features["allocated_bytes"] == round(20.1 * GIB)
    assert features["reserved_bytes"] == round(1.3 * GIB)
    assert features["device"] == "GPU 0"


def test_older_pytorch_oom_format_gives_every_amount_in_bytes() -> None:
    message = (
        "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 1; 6.00 GiB total capacity; 5.20 GiB"
        " already allocated; 0 bytes free; 5.30 GiB reserved in total by PyTorch)"
    )
    features = classify(dict(surface=X, exception_type="RuntimeError", message=message)).features
    assert features == features | {
        "requested_bytes": 20 * MIB,
        "total_bytes": 6 * GIB,
        "allocated_bytes": round(5.2 * GIB),
        "free_bytes": 0,
        "reserved_bytes": round(5.3 * GIB),
        "device": "GPU 1",
    }


def test_cuda_malloc_async_oom_format() -> None:
    message = (
        "Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated"
        " : 14.81 GiB\nRequested : 320.00 MiB\nDevice limit : 15.92 GiB\nFree (according to CUDA):"
        " 0 bytes"
    )
    features = classify(dict(surface=X, message=message)).features
    assert features["requested_bytes"] == 320 * MIB
    assert features["allocated_bytes"] == round(14.81 * GIB)
    assert features["total_bytes"] == round(15.92 * GIB)
    assert features["free_bytes"] == 0


def test_mps_oom_reports_the_mps_device_and_binary_units() -> None:
    message = (
        "MPS backend out of memory (MPS allocated: 9.04 GB, other allocations: 384.00 KB, max"
        " allowed: 9.07 GB). Tried to allocate 40.00 MB on private pool."
    )
    features = classify(dict(surface=X, exception_type="RuntimeError", message=message)).features
    assert features["device"] == "MPS"
    assert features["requested_bytes"] == 40 * MIB
    assert features["total_bytes"] == round(9.07 * GIB)


def test_a_free_amount_larger_than_the_total_is_dropped() -> None:
    message = (
        "HIP out of memory. Tried to allocate 72.00 MiB. GPU 0 has a total capacty of 512.00 MiB of"
        " which 17179869183.96 GiB is free."
    )
    features = classify(dict(surface=X, message=message)).features
    assert features["total_bytes"] == 512 * MIB
    assert "free_bytes" not in features


def test_host_oom_reports_the_cpu_request() -> None:
    message = (
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4398046511104 bytes."
    )
    verdict = classify(dict(surface=X, exception_type="RuntimeError", message=message))
    assert verdict.failure_class == C.HOST_OOM
    assert verdict.features["requested_bytes"] == 4398046511104
    assert verdict.features["device"] == "CPU"


@pytest.mark.parametrize(
    ("number", "unit", "expected"),
    [("1", "bytes", 1), ("1.5", "KiB", 1536), ("2", "MB", 2 * MIB), ("0.5", "GiB", GIB // 2)],
)
def test_to_bytes_uses_binary_units(number: str, unit: str, expected: int) -> None:
    assert to_bytes(number, unit) == expected


def test_missing_model_features_come_from_the_node_error() -> None:
    error = NodeError(
        node_id="10",
        class_type="LoraLoader",
        type="value_not_in_list",
        details="lora_name: 'styles/ink.safetensors' not in ['a.safetensors']",
        input_name="lora_name",
        received_value="styles/ink.safetensors",
        input_config=[["a.safetensors"], {}],
    )
    verdict = classify(FailureEvidence(surface="validation", http_status=400, node_errors=[error]))
    assert verdict.features | {"model_name": "styles/ink.safetensors"} == verdict.features
    assert verdict.features["model_folder"] == "loras"
    assert verdict.features["input_name"] == "lora_name"
    assert verdict.features["node_id"] == "10"
    assert "styles/" not in verdict.user_message


def test_run_time_missing_model_names_folder_and_file() -> None:
    message = "Model in folder 'vae' with filename 'ae.safetensors' not found."
    features = classify(
        dict(surface=X, exception_type="FileNotFoundError", message=message)
    ).features
    assert (features["model_folder"], features["model_name"]) == ("vae", "ae.safetensors")


def test_corrupt_model_name_comes_from_the_current_inputs() -> None:
    evidence = FailureEvidence(
        surface=X,
        exception_type="safetensors._safetensors_rust.SafetensorError",
        message="Error while deserializing header: HeaderTooLarge",
        node_type="CheckpointLoaderSimple",
        current_inputs={"ckpt_name": "['broken.safetensors']"},
    )
    features = classify(evidence).features
    assert features["model_name"] == "broken.safetensors"
    assert features["model_folder"] == "checkpoints"


def test_node_missing_reports_the_node_class() -> None:
    message = (
        "Cannot execute because node GroundingDinoModelLoader (segment anything) does not exist."
    )
    features = classify(
        dict(surface="validation", validation_type="invalid_prompt", message=message)
    ).features
    assert features["node_class"] == "GroundingDinoModelLoader (segment anything)"


def test_node_missing_class_comes_from_the_reply_extra_info() -> None:
    body = (
        '{"error": {"type": "missing_node_type", "message": "Node \'Title\' not found. The custom'
        ' node may not be installed.", "details": "", "extra_info": {"class_type": "RealClass"}},'
        ' "node_errors": {}}'
    )
    evidence = dict(
        surface="validation", http_status=400, body=body, message="Node 'Title' not found."
    )
    assert classify(evidence).features["node_class"] == "RealClass"


def test_invalid_parameter_reports_node_input_value_bounds_and_clampable() -> None:
    error = NodeError(
        node_id="1",
        class_type="EmptyImage",
        type="value_bigger_than_max",
        message="Value 20000 bigger than max of 16384",
        details="width",
        input_name="width",
        received_value=20000,
        input_config=["INT", {"min": 1, "max": 16384}],
    )
    verdict = classify(FailureEvidence(surface="validation", http_status=400, node_errors=[error]))
    assert (
        verdict.features
        | {
            "node_id": "1",
            "input_name": "width",
            "value": 20000,
            "min": 1,
            "max": 16384,
            "clampable": True,
        }
        == verdict.features
    )
    assert verdict.retryable is True


def test_a_non_numeric_invalid_value_is_not_clampable() -> None:
    error = NodeError(
        node_id="1", type="invalid_input_type", input_name="width", received_value="abc"
    )
    verdict = classify(FailureEvidence(surface="validation", node_errors=[error]))
    assert verdict.features["clampable"] is False
    assert verdict.retryable is False


def test_the_error_no_automatic_fix_can_solve_decides_and_all_are_listed() -> None:
    clampable = NodeError(
        node_id="1",
        type="value_smaller_than_min",
        input_name="width",
        received_value=0,
        input_config=["INT", {"min": 1}],
    )
    missing = NodeError(node_id="1", type="required_input_missing", input_name="color")
    verdict = classify(FailureEvidence(surface="validation", node_errors=[clampable, missing]))
    assert verdict.features["input_name"] == "color"
    assert verdict.retryable is False
    assert [e["input_name"] for e in verdict.features["node_errors"]] == ["width", "color"]
    assert [e["clampable"] for e in verdict.features["node_errors"]] == [True, False]


def test_http_status_and_backend_facts_are_features() -> None:
    evidence = FailureEvidence(
        surface="http", http_status=500, body="oops", comfyui_version="0.3.62", device_type="cuda"
    )
    features = classify(evidence).features
    assert features == features | {
        "http_status": 500,
        "comfyui_version": "0.3.62",
        "device_type": "cuda",
    }


def test_node_type_is_a_feature_when_known() -> None:
    evidence = dict(
        surface=X, exception_type="ValueError", node_type="KSampler", node_id="3", message="bad"
    )
    features = classify(evidence).features
    assert (features["node_type"], features["node_id"]) == ("KSampler", "3")


def test_a_validation_report_in_text_yields_the_same_features() -> None:
    message = (
        "Failed to validate prompt for output 9:\n* KSampler 3:\n  - Value 200 bigger than max of"
        " 100: steps\nOutput will be ignored"
    )
    verdict = classify(dict(surface="log", message=message))
    assert verdict.failure_class == C.INVALID_PARAMETERS
    assert (
        verdict.features
        | {
            "node_id": "3",
            "node_type": "KSampler",
            "input_name": "steps",
            "value": 200.0,
            "max": 100.0,
        }
        == verdict.features
    )


def _memory_reference(text: str) -> dict[str, int]:
    """What memory() read before it searched the folded text near each word: every pattern,
    case ignored, over the whole text."""
    import re

    from classifier.features import _OOM_FIELDS

    found: dict[str, int] = {}
    for key, word, pattern in _OOM_FIELDS:
        match = re.search(pattern, text, re.IGNORECASE)
        if key not in found and word in text.lower() and match:
            found[key] = to_bytes(match.group(1), match.group(2))
    return found


@pytest.mark.parametrize("upper", [False, True])
def test_memory_amounts_equal_a_whole_text_search(upper: bool) -> None:
    """On every OOM message of the corpus (and upper-cased), and on repeated, far-apart words."""
    import json
    from pathlib import Path

    from classifier.features import memory

    corpus = Path(__file__).resolve().parents[2] / "corpus"
    texts = [
        json.loads(line)["message"]
        for path in sorted(corpus.glob("*.jsonl"))
        for line in path.read_text("utf-8").splitlines()
        if json.loads(line)["label"] in ("GPU_OOM", "HOST_OOM")
    ]
    texts += [
        "1 free; then " + "x" * 200 + " 12345678901234567890.5 GiB free; and 3 MiB free;",
        "of which 0 bytes is free; 99999999999999999999999 MiB already allocated"
        " 5 KiB already allocated",
    ]
    assert len(texts) > 40
    for text in texts:
        text = text.upper() if upper else text
        amounts = {k: v for k, v in memory(text, C.GPU_OOM).items() if k != "device"}
        reference = _memory_reference(text)
        total, free = reference.get("total_bytes"), reference.get("free_bytes")
        if free is not None and total is not None and free > total:
            del reference["free_bytes"]
        assert amounts == reference, text
