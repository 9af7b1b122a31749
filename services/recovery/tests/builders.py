"""Test data for recovery: real-looking graphs (SD1.5, SDXL, SD3, Flux), events, backends."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.backend import BreakerState
from contracts.envelope import derive_event_id
from contracts.failure import FailureClassified
from contracts.job import (
    Binding,
    DispatchedPrompt,
    FailureEvidence,
    InputAsset,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobSubmitted,
    NodeError,
)
from contracts.policy import RecoveryPolicy
from contracts.taxonomy import CLASS_INFO, FailureClass
from recovery.inventory import BackendView, Inventory
from recovery.job_state import JobState
from recovery.state_machine import JobEvent, apply

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GIB = 1024**3


def sd15(batch: int = 1, width: int = 512, height: int = 512) -> dict[str, Any]:
    """The standard SD1.5 txt2img graph (as in the captured 02a payload)."""
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 156680208700286,
                "steps": 20,
                "cfg": 8.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        },
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": width, "height": height, "batch_size": batch},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a photo of a cat", "clip": ["4", 1]},
        },
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        },
    }


def sdxl(batch: int = 4, size: int = 1024) -> dict[str, Any]:
    """SDXL base + refiner with two KSamplerAdvanced, a LoRA and a separate VAE."""
    sampler = {
        "add_noise": "enable",
        "cfg": 7.0,
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "return_with_leftover_noise": "enable",
    }
    return {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
        },
        "12": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd_xl_refiner_1.0.safetensors"},
        },
        "13": {
            "class_type": "LoraLoader",
            "inputs": {
                "model": ["4", 0],
                "clip": ["4", 1],
                "lora_name": "pixel-art-xl.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.8,
            },
        },
        "20": {"class_type": "VAELoader", "inputs": {"vae_name": "sdxl_vae.safetensors"}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": size, "height": size, "batch_size": batch},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle", "clip": ["13", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["13", 1]}},
        "15": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle", "clip": ["12", 1]}},
        "16": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["12", 1]}},
        "10": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                **sampler,
                "noise_seed": 42,
                "steps": 25,
                "start_at_step": 0,
                "end_at_step": 20,
                "model": ["13", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "11": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                **sampler,
                "add_noise": "disable",
                "noise_seed": 42,
                "steps": 25,
                "start_at_step": 20,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
                "model": ["12", 0],
                "positive": ["15", 0],
                "negative": ["16", 0],
                "latent_image": ["10", 0],
            },
        },
        "17": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["20", 0]}},
        "19": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "sdxl", "images": ["17", 0]},
        },
    }


def sd3(batch: int = 1, size: int = 1024) -> dict[str, Any]:
    """SD3.5 medium: checkpoint + TripleCLIPLoader, EmptySD3LatentImage (16 px grid)."""
    return {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd3.5_medium.safetensors"},
        },
        "2": {
            "class_type": "TripleCLIPLoader",
            "inputs": {
                "clip_name1": "clip_g.safetensors",
                "clip_name2": "clip_l.safetensors",
                "clip_name3": "t5xxl_fp8_e4m3fn.safetensors",
            },
        },
        "3": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": size, "height": size, "batch_size": batch},
        },
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["2", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "6": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 7,
                "steps": 28,
                "cfg": 4.5,
                "sampler_name": "dpmpp_2m",
                "scheduler": "sgm_uniform",
                "denoise": 1.0,
                "model": ["1", 0],
                "positive": ["4", 0],
                "negative": ["5", 0],
                "latent_image": ["3", 0],
            },
        },
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveImage", "inputs": {"filename_prefix": "sd3", "images": ["7", 0]}},
    }


def flux(batch: int = 1, size: int = 1024) -> dict[str, Any]:
    """Flux dev: UNETLoader + DualCLIPLoader + VAELoader, SamplerCustomAdvanced, steps in
    BasicScheduler, the size repeated in ModelSamplingFlux."""
    return {
        "10": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
        "11": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "t5xxl_fp16.safetensors",
                "clip_name2": "clip_l.safetensors",
                "type": "flux",
            },
        },
        "12": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a lighthouse", "clip": ["11", 0]},
        },
        "26": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["6", 0]}},
        "30": {
            "class_type": "ModelSamplingFlux",
            "inputs": {
                "max_shift": 1.15,
                "base_shift": 0.5,
                "width": size,
                "height": size,
                "model": ["12", 0],
            },
        },
        "22": {
            "class_type": "BasicGuider",
            "inputs": {"model": ["30", 0], "conditioning": ["26", 0]},
        },
        "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "17": {
            "class_type": "BasicScheduler",
            "inputs": {"scheduler": "simple", "steps": 20, "denoise": 1.0, "model": ["30", 0]},
        },
        "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 219670278747233}},
        "27": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": size, "height": size, "batch_size": batch},
        },
        "13": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["25", 0],
                "guider": ["22", 0],
                "sampler": ["16", 0],
                "sigmas": ["17", 0],
                "latent_image": ["27", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["10", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "flux", "images": ["8", 0]}},
    }


GRAPHS = {"sd15": sd15, "sdxl": sdxl, "sd3": sd3, "flux": flux}
CORE_NODES = frozenset(
    {cls for make in GRAPHS.values() for cls in (n["class_type"] for n in make().values())}
    | {"LatentFromBatch", "VAEDecodeTiled", "LoadImage", "PrimitiveInt"}
)


def models_of(workflow: dict[str, Any]) -> dict[str, list[str]]:
    """The model folders a backend needs to run `workflow`."""
    from recovery.graph import model_refs
    from recovery.nodes import canonical_folder

    out: dict[str, list[str]] = {}
    for ref in model_refs(workflow):
        out.setdefault(canonical_folder(ref.folder), []).append(ref.name)
    return out


ALL_MODELS = {
    folder: sorted({name for make in GRAPHS.values() for name in models_of(make()).get(folder, [])})
    for folder in ("checkpoints", "loras", "vae", "text_encoders", "diffusion_models")
}


def backend(
    backend_id: str,
    *,
    vram_gib: float | None = 24,
    version: str = "0.33.0",
    device: str = "cuda",
    device_name: str = "NVIDIA RTX 4090",
    node_classes: frozenset[str] | None = CORE_NODES,
    models: dict[str, list[str]] | None = None,
    breaker: BreakerState = BreakerState.CLOSED,
    reachable: bool | None = True,
    queue: int = 0,
) -> BackendView:
    """A backend view with every test model unless `models` says otherwise."""
    chosen = ALL_MODELS if models is None else models
    return BackendView(
        backend_id=backend_id,
        node_classes=node_classes,
        models={folder: frozenset(names) for folder, names in chosen.items()},
        comfyui_version=version,
        device_type=device,
        device_name=device_name,
        vram_total=None if vram_gib is None else int(vram_gib * GIB),
        vram_free=None if vram_gib is None else int(vram_gib * GIB * 0.8),
        reachable=reachable,
        queue=queue,
        breaker=breaker,
    )


def inventory(*views: BackendView) -> Inventory:
    """An inventory of `views`."""
    return Inventory.of(views)


def submitted(
    job_id: str = "job-1",
    workflow: dict[str, Any] | None = None,
    *,
    policy: RecoveryPolicy | None = None,
    params: dict[str, Any] | None = None,
    bindings: dict[str, Binding] | None = None,
    inputs: tuple[str, ...] = (),
    at: datetime = T0,
) -> JobSubmitted:
    """A job.submitted event."""
    return JobSubmitted(
        event_id=f"{job_id}:submitted",
        job_id=job_id,
        occurred_at=at,
        source="test",
        workflow=copy.deepcopy(workflow if workflow is not None else sd15()),
        params=params or {},
        bindings=bindings or {},
        policy=policy,
        inputs=[InputAsset(name=name, data_b64="aGk=") for name in inputs],
    )


def dispatched(
    job_id: str = "job-1", attempt: int = 1, backend_id: str = "gpu-a", parts: int = 1
) -> JobDispatched:
    """A job.dispatched event."""
    return JobDispatched(
        event_id=f"{job_id}:dispatched:{attempt}",
        job_id=job_id,
        attempt=attempt,
        occurred_at=T0 + timedelta(seconds=attempt),
        source="test",
        backend_id=backend_id,
        prompts=[
            DispatchedPrompt(prompt_id=f"{job_id}-p{attempt}-{i}", part=i) for i in range(parts)
        ],
        client_id="client",
    )


def failed(
    job_id: str = "job-1",
    attempt: int = 1,
    backend_id: str = "gpu-a",
    message: str = "boom",
    event_id: str | None = None,
) -> JobFailed:
    """A job.failed event."""
    return JobFailed(
        event_id=event_id or f"{job_id}:failed:{attempt}",
        job_id=job_id,
        attempt=attempt,
        occurred_at=T0 + timedelta(seconds=attempt, milliseconds=500),
        source="test",
        backend_id=backend_id,
        prompt_id=f"{job_id}-p{attempt}-0",
        evidence=FailureEvidence(surface="execution_error", message=message),
    )


def classified(
    failure_class: FailureClass,
    *,
    job_id: str = "job-1",
    attempt: int = 1,
    backend_id: str | None = "gpu-a",
    features: dict[str, Any] | None = None,
    evidence: FailureEvidence | None = None,
    retryable: bool | None = None,
    event_id: str | None = None,
) -> FailureClassified:
    """A failure.classified event; `retryable` defaults to the class's TAXONOMY value."""
    info = CLASS_INFO[failure_class]
    failed_id = f"{job_id}:failed:{attempt}"
    return FailureClassified(
        event_id=event_id or derive_event_id(failed_id, "classified"),
        job_id=job_id,
        attempt=attempt,
        occurred_at=T0 + timedelta(seconds=attempt, milliseconds=600),
        source="test",
        causation_id=failed_id,
        failed_event_id=failed_id,
        failure_class=failure_class,
        error_code=info.error_code,
        retryable=info.retryable if retryable is None else retryable,
        retryability=info.retryability,
        severity=info.severity,
        rule="test",
        features=features or {},
        backend_id=backend_id,
        prompt_id=f"{job_id}-p{attempt}-0",
        evidence=evidence,
    )


def completed(job_id: str = "job-1", attempt: int = 1, backend_id: str = "gpu-a") -> JobCompleted:
    """A job.completed event."""
    return JobCompleted(
        event_id=f"{job_id}:completed:{attempt}",
        job_id=job_id,
        attempt=attempt,
        occurred_at=T0 + timedelta(seconds=attempt, milliseconds=900),
        source="test",
        backend_id=backend_id,
        prompt_ids=[f"{job_id}-p{attempt}-0"],
    )


def fold(*events: JobEvent, state: JobState | None = None) -> JobState:
    """The state after `events`."""
    for event in events:
        state = apply(state, event)
    assert state is not None
    return state


def running(
    workflow: dict[str, Any] | None = None, *, backend_id: str = "gpu-a", **kw: Any
) -> JobState:
    """A job submitted and dispatched once to `backend_id`."""
    return fold(submitted(workflow=workflow, **kw), dispatched(backend_id=backend_id))


def failed_state(
    failure: FailureClassified, workflow: dict[str, Any] | None = None, **kw: Any
) -> JobState:
    """A running job with `failure` folded in (what decide sees)."""
    state = running(workflow, backend_id=failure.backend_id or "gpu-a", **kw)
    return fold(
        failed(attempt=failure.attempt, backend_id=failure.backend_id or "gpu-a"),
        failure,
        state=state,
    )


def rng(seed: int = 0) -> random.Random:
    """A seeded random generator."""
    return random.Random(seed)


def validation_error(node: str, input_name: str, kind: str, value: Any, **config: Any) -> NodeError:
    """A /prompt node error with ComfyUI's input_config."""
    return NodeError(
        node_id=node,
        type=kind,
        input_name=input_name,
        received_value=value,
        input_config=["INT", {"default": 512, **config}],
    )
