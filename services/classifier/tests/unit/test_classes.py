"""Every taxonomy class, from realistic evidence that is not in the corpus."""
# ruff: noqa: E501 - a table of verbatim-looking error texts reads best one case per line

from __future__ import annotations

from typing import Any

import pytest

from classifier.engine import classify
from contracts.job import FailureEvidence, NodeError
from contracts.taxonomy import FailureClass as C

X = "execution_error"
CASES: list[tuple[C, dict[str, Any]]] = [
    (C.GPU_OOM, dict(surface=X, exception_type="torch.OutOfMemoryError", node_type="KSampler", message="CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB of which 1.02 GiB is free. Of the allocated memory 20.1 GiB is allocated by PyTorch, and 1.3 GiB is reserved by PyTorch but unallocated.")),
    (C.GPU_OOM, dict(surface=X, exception_type="RuntimeError", message="CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 6.00 GiB total capacity; 5.20 GiB already allocated; 0 bytes free; 5.30 GiB reserved in total by PyTorch)")),
    (C.GPU_OOM, dict(surface=X, exception_type="torch.OutOfMemoryError", message="HIP out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 15.98 GiB of which 512.00 MiB is free.")),
    (C.GPU_OOM, dict(surface=X, exception_type="RuntimeError", message="MPS backend out of memory (MPS allocated: 9.04 GB, other allocations: 384.00 KB, max allowed: 9.07 GB). Tried to allocate 40.00 MB on private pool.")),
    (C.GPU_OOM, dict(surface=X, exception_type="RuntimeError", message="Could not allocate tensor with 471859200 bytes. There is not enough GPU video memory available!")),
    (C.GPU_OOM, dict(surface=X, exception_type="torch.AcceleratorError", message="CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some other API call")),
    (C.GPU_OOM, dict(surface=X, exception_type="AttributeError", message="'NoneType' object has no attribute 'shape'", traceback=["  File \"sampling.py\", line 9, in sample\n", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB\n"])),
    (C.GPU_OOM, dict(surface=X, exception_type="torch.cuda.OutOfMemoryError", message="Zuordnung auf dem Gerät")),
    (C.HOST_OOM, dict(surface=X, exception_type="RuntimeError", message="[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 4398046511104 bytes. Error code 12 (Cannot allocate memory)")),
    (C.HOST_OOM, dict(surface=X, exception_type="OSError", message="[WinError 1455] The paging file is too small for this operation to complete")),
    (C.HOST_OOM, dict(surface=X, exception_type="OSError", message="Die Auslagerungsdatei ist zu klein, um diesen Vorgang durchzuführen. (os error 1455)")),  # codespell:ignore ist
    (C.HOST_OOM, dict(surface=X, exception_type="MemoryError", message="")),
    (C.HOST_OOM, dict(surface="log", message="Memory cgroup out of memory: Killed process 4242 (python3) total-vm:9812kB")),
    (C.DISK_FULL, dict(surface=X, exception_type="OSError", message="[Errno 28] No space left on device")),
    (C.DISK_FULL, dict(surface=X, exception_type="safetensors_rust.SafetensorError", message='Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })')),
    (C.DISK_FULL, dict(surface=X, exception_type="OSError", message="[WinError 112] There is not enough space on the disk")),
    (C.GPU_FAULT, dict(surface=X, exception_type="torch.AcceleratorError", message="CUDA error: unspecified launch failure")),
    (C.GPU_FAULT, dict(surface=X, exception_type="RuntimeError", message="CUDA error: misaligned address")),
    (C.GPU_FAULT, dict(surface="log", message="NVRM: Xid (PCI:0000:01:00): 79, pid=1234, GPU has fallen off the bus.")),
    (C.BACKEND_UNSUPPORTED, dict(surface=X, exception_type="RuntimeError", message="CUDA error: no kernel image is available for execution on the device")),
    (C.BACKEND_UNSUPPORTED, dict(surface=X, exception_type="RuntimeError", message="CUDA error: CUBLAS_STATUS_NOT_SUPPORTED when calling `cublasGemmStridedBatchedEx(handle, opa, opb, m, n, k)`")),
    (C.BACKEND_UNSUPPORTED, dict(surface=X, exception_type="NotImplementedError", message="The operator 'aten::upsample_bicubic2d.out' is not currently implemented for the MPS device.")),
    (C.BACKEND_UNSUPPORTED, dict(surface=X, exception_type="RuntimeError", message="\"addmm_impl_cpu_\" not implemented for 'Half'")),
    (C.BACKEND_WEDGED, dict(surface="log", message="Exception in thread Thread-1 (prompt_worker):\nTraceback (most recent call last):")),
    (C.BACKEND_WEDGED, dict(surface=X, exception_type="RuntimeError", message="CUDA error: device-side assert triggered")),
    (C.BACKEND_WEDGED, dict(surface="monitor", observation="wedged")),
    (C.BACKEND_UNREACHABLE, dict(surface="client", exception_type="httpx.ConnectError", message="[Errno 111] Connection refused")),
    (C.BACKEND_UNREACHABLE, dict(surface="client", exception_type="httpx.RemoteProtocolError", message="Server disconnected without sending a response.")),
    (C.BACKEND_UNREACHABLE, dict(surface="client", exception_type="httpx.ConnectTimeout", message="timed out")),
    (C.BACKEND_UNREACHABLE, dict(surface="client", message="Timed out waiting for ComfyUI to become ready after 120s")),
    (C.BACKEND_UNREACHABLE, dict(surface="monitor", observation="ws_closed")),
    (C.BACKEND_UNREACHABLE, dict(surface="http", http_status=502, body="Bad Gateway")),
    (C.BACKEND_ERROR, dict(surface="http", http_status=500, body="500 Internal Server Error\n\nServer got itself in trouble")),
    (C.BACKEND_ERROR, dict(surface="client", exception_type="json.decoder.JSONDecodeError", message="Expecting value: line 1 column 1 (char 0)")),
    (C.EXTERNAL_SERVICE_ERROR, dict(surface=X, exception_type="requests.exceptions.ConnectionError", node_type="OpenAIChat", message="HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: /v1/chat (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))")),
    (C.EXTERNAL_SERVICE_ERROR, dict(surface=X, node_type="GeminiNode", exception_type="Exception", message="Connection refused")),
    (C.EXTERNAL_SERVICE_ERROR, dict(surface=X, node_type="FluxProNode", exception_type="requests.exceptions.HTTPError", message="502 Server Error: Bad Gateway for url: https://api.example.com/v1/get_result")),
    (C.TIMEOUT, dict(surface="client", exception_type="httpx.ReadTimeout", message="The read operation timed out")),
    (C.TIMEOUT, dict(surface="monitor", observation="timeout")),
    (C.TIMEOUT, dict(surface=X, node_type="KlingVideo", exception_type="Exception", message="Task polling timed out after 900 seconds")),
    (C.STALLED, dict(surface="monitor", observation="stalled")),
    (C.STALLED, dict(surface="log", message=" 45%|████▌     | 9/20 [00:10<00:12,  1.10s/it]")),
    (C.INTERRUPTED, dict(surface="monitor", observation="prompt_lost")),
    (C.INTERRUPTED, dict(surface="monitor", observation="interrupted")),
    (C.CANCELLED, dict(surface="monitor", observation="interrupted", interrupted_by_us=True)),
    (C.MODEL_MISSING, dict(surface=X, exception_type="FileNotFoundError", node_type="UNETLoader", message="[Errno 2] No such file or directory: 'flux1-dev.safetensors'")),
    (C.MODEL_MISSING, dict(surface=X, exception_type="Exception", node_type="IPAdapterModelLoader", message="IPAdapter model not found.")),
    (C.INPUT_MISSING, dict(surface=X, exception_type="FileNotFoundError", node_type="VHS_LoadVideo", message="[Errno 2] No such file or directory: 'ComfyUI/input/clip.mp4'")),
    (C.MODEL_CORRUPT, dict(surface=X, exception_type="safetensors._safetensors_rust.SafetensorError", message="Error while deserializing header: invalid JSON in header: expected value at line 1 column 12")),
    (C.MODEL_CORRUPT, dict(surface=X, exception_type="_pickle.UnpicklingError", message="Weights only load failed: pickle data was truncated")),
    (C.MODEL_INCOMPATIBLE, dict(surface=X, exception_type="RuntimeError", node_type="KSampler", message="linear(): input and weight.T shapes cannot be multiplied (77x2048 and 768x320)")),
    (C.MODEL_INCOMPATIBLE, dict(surface=X, exception_type="RuntimeError", node_type="VAEDecode", message="Given groups=1, weight of size [512, 4, 3, 3], expected input[1, 16, 128, 128] to have 4 channels, but got 16 channels instead")),
    (C.NODE_MISSING, dict(surface="log", message="Cannot import /x/custom_nodes/ComfyUI-Foo module for custom nodes: [Errno 2] No such file or directory: 'weights.json'")),
    (C.DEPENDENCY_MISSING, dict(surface=X, exception_type="ImportError", node_type="Pixal3D", message="DLL load failed while importing _C: Access is denied.")),
    (C.DEPENDENCY_MISSING, dict(surface=X, exception_type="ModuleNotFoundError", message="No module named 'comfy.ldm.lightricks'")),
    (C.DEPENDENCY_MISSING, dict(surface=X, exception_type="OSError", message='[WinError 126] The specified module could not be found. Error loading "c10.dll" or one of its dependencies.')),
    (C.PERMISSION_DENIED, dict(surface=X, exception_type="PermissionError", message="[Errno 13] Permission denied: 'output'")),
    (C.PERMISSION_DENIED, dict(surface="http", http_status=403, body="Forbidden")),
    (C.PERMISSION_DENIED, dict(surface=X, exception_type="PermissionError", message="[WinError 5] Zugriff verweigert")),
    (C.INVALID_PARAMETERS, dict(surface=X, exception_type="Exception", node_type="SaveImage", message="**** ERROR: Saving image outside the output folder is not allowed.")),
    (C.NODE_EXECUTION_ERROR, dict(surface=X, exception_type="ValueError", node_type="StringConcat", message="something odd happened")),
    (C.NODE_EXECUTION_ERROR, dict(surface=X, exception_type="cv2.error", node_type="ImageResize", message="OpenCV(4.9.0) error: (-215:Assertion failed) !ssize.empty() in function 'resize'")),
    (C.OUTPUT_MISSING, dict(surface="monitor", observation="output_missing")),
    (C.INVALID_WORKFLOW, dict(surface="validation", http_status=400, validation_type="missing_node_type", message="Node 'My Node' has no class_type. The workflow may be corrupted or a custom node is missing.")),
    (C.INVALID_WORKFLOW, dict(surface="validation", http_status=400, validation_type="prompt_no_outputs", message="Prompt has no outputs")),
    (C.INVALID_WORKFLOW, dict(surface=X, exception_type="graph.DependencyCycleError", message="Dependency cycle detected")),
    (C.INVALID_PARAMETERS, dict(surface=X, exception_type="Prompt execution failed", message="Prompt outputs failed validation: Value 2.0 bigger than max of 1.0: denoise")),
    (C.MODEL_INCOMPATIBLE, dict(surface=X, exception_type="KeyError", node_type="CheckpointLoaderSimple", message="'model.diffusion_model.input_blocks.0.0.weight'")),
    (C.EXTERNAL_SERVICE_ERROR, dict(surface=X, exception_type="OSError", message="We couldn't connect to 'https://huggingface.co' to load this file")),
    (C.BACKEND_UNSUPPORTED, dict(surface=X, exception_type="RuntimeError", message="Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False.")),
    (C.DEPENDENCY_MISSING, dict(surface=X, exception_type="RuntimeError", message="Failed to import transformers.models.clip because of the following error (look up to see its traceback)")),
    (C.UNKNOWN, dict(surface="http", http_status=400)),
    (C.UNKNOWN, dict(surface=X, exception_type="Prompt execution failed", message="")),
]  # fmt: skip


def _ids(case: tuple[C, dict[str, Any]]) -> str:
    return f"{case[0].value}-{(case[1].get('message') or case[1].get('observation') or '')[:30]}"


@pytest.mark.parametrize(("expected", "evidence"), CASES, ids=[_ids(c) for c in CASES])
def test_realistic_evidence_is_classified(expected: C, evidence: dict[str, Any]) -> None:
    assert classify(evidence).failure_class == expected


def test_every_taxonomy_class_has_a_table_case() -> None:
    assert {expected for expected, _ in CASES} == set(C)


def _validation(*errors: NodeError) -> FailureEvidence:
    return FailureEvidence(surface="validation", http_status=400, node_errors=list(errors))


def test_value_not_in_list_on_a_model_input_is_model_missing() -> None:
    error = NodeError(
        node_id="4",
        class_type="CheckpointLoaderSimple",
        type="value_not_in_list",
        message="Value not in list",
        details="ckpt_name: 'sdxl.safetensors' not in ['a.safetensors']",
        input_name="ckpt_name",
        received_value="sdxl.safetensors",
        input_config=[["a.safetensors"], {}],
    )
    assert classify(_validation(error)).failure_class == C.MODEL_MISSING


def test_value_not_in_list_on_an_enum_is_invalid_parameters_and_not_retryable() -> None:
    error = NodeError(
        node_id="3",
        class_type="KSampler",
        type="value_not_in_list",
        input_name="sampler_name",
        received_value="euler_x",
        input_config=[["euler", "euler_ancestral"], {}],
    )
    verdict = classify(_validation(error))
    assert (verdict.failure_class, verdict.retryable) == (C.INVALID_PARAMETERS, False)


def test_an_input_image_not_on_the_backend_is_input_missing() -> None:
    error = NodeError(
        node_id="1",
        class_type="LoadImage",
        type="custom_validation_failed",
        message="Custom validation failed for node",
        details="image - Invalid image file: cat.png",
        input_name="image",
    )
    assert classify(_validation(error)).failure_class == C.INPUT_MISSING


def test_missing_node_type_is_node_missing() -> None:
    evidence = FailureEvidence(
        surface="validation",
        http_status=400,
        validation_type="missing_node_type",
        message="Node 'Foo' not found. The custom node may not be installed.",
    )
    assert classify(evidence).failure_class == C.NODE_MISSING


def test_a_network_error_inside_a_node_is_never_backend_unreachable() -> None:
    evidence = dict(
        surface=X,
        node_type="LLMNode",
        exception_type="httpx.ConnectError",
        message="[Errno 111] Connection refused",
    )
    assert classify(evidence).failure_class == C.EXTERNAL_SERVICE_ERROR


def test_the_same_network_error_seen_by_our_client_is_backend_unreachable() -> None:
    evidence = dict(
        surface="client",
        exception_type="httpx.ConnectError",
        message="[Errno 111] Connection refused",
    )
    assert classify(evidence).failure_class == C.BACKEND_UNREACHABLE


def test_a_front_end_label_is_not_trusted_as_an_exception_type() -> None:
    evidence = dict(
        surface=X, exception_type="Prompt execution failed", message="unexpected failure"
    )
    verdict = classify(evidence)
    assert verdict.rule != "node_execution.exception_type"


@pytest.mark.parametrize("label", ["提示执行失败", "Prompt execution failed", "Falha na execução"])
def test_translated_front_end_labels_do_not_decide(label: str) -> None:
    verdict = classify(dict(surface=X, exception_type=label, message="Prompt has no outputs"))
    assert verdict.failure_class == C.INVALID_WORKFLOW


def test_specific_evidence_in_the_traceback_beats_a_generic_final_exception() -> None:
    evidence = dict(
        surface=X,
        exception_type="AttributeError",
        message="'NoneType' object has no attribute 'to'",
        traceback=["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 512.00 MiB\n"],
    )
    verdict = classify(evidence)
    assert verdict.failure_class == C.GPU_OOM
    assert (
        verdict.confidence
        < classify(dict(surface=X, exception_type="torch.OutOfMemoryError")).confidence
    )


def test_windows_errno_13_on_a_folder_keeps_the_wrong_path_hint() -> None:
    verdict = classify(
        dict(surface="log", message="[Errno 13] Permission denied: 'D:\\\\models\\\\loras'")
    )
    assert verdict.failure_class == C.PERMISSION_DENIED
    assert any("folder" in step for step in verdict.actionable_steps)


def test_every_unknown_keeps_its_message_for_analytics() -> None:
    verdict = classify(dict(surface="client", message="something nobody has seen before"))
    assert verdict.failure_class == C.UNKNOWN
    assert verdict.features["message"] == "something nobody has seen before"
