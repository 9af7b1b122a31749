"""Read-only and file routes: system_stats, features, object_info, models, view, upload."""

from __future__ import annotations

import hashlib
import sys
from email.utils import formatdate
from typing import Any, Final

from aiohttp import web

from comfysim.files import FOLDER_TYPES, escapes, split_annotation
from comfysim.middleware import BACKEND
from comfysim.ws_hub import SERVER_FEATURES

routes = web.RouteTableDef()

PACKAGE_VERSIONS: Final = [
    {"name": "comfyui-frontend-package", "installed": "1.49.6", "required": "1.49.6"},
    {"name": "comfyui-workflow-templates", "installed": "0.11.44", "required": "0.11.44"},
    {"name": "comfyui-embedded-docs", "installed": "0.5.10", "required": "0.5.10"},
    {"name": "comfy-kitchen", "installed": "0.2.31", "required": "0.2.31"},
    {"name": "comfy-aimdo", "installed": "0.4.13", "required": "0.4.13"},
]


def _device(backend: Any) -> dict[str, Any]:
    spec = backend.spec
    if spec.device_type != "cuda":
        free = backend.ram_free()
        return {
            "name": spec.device_name,
            "type": spec.device_type,
            "index": None,
            "vram_total": spec.ram_total,
            "vram_free": free,
            "torch_vram_total": spec.ram_total,
            "torch_vram_free": free,
        }
    gpu = backend.proc.gpu
    return {
        "name": spec.device_name,
        "type": spec.device_type,
        "index": 0,
        "vram_total": gpu.total,
        "vram_free": gpu.reported_free(),
        "torch_vram_total": gpu.allocated + gpu.fragmentation,
        "torch_vram_free": 0,
    }


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    """OS, versions, RAM, and devices[0] with this backend's VRAM picture."""
    backend = request.app[BACKEND]
    system = {
        "os": "linux",
        "ram_total": backend.spec.ram_total,
        "ram_free": backend.ram_free(),
        "comfyui_version": backend.spec.comfyui_version,
        "required_frontend_version": "1.49.6",
        "installed_templates_version": "0.11.44",
        "required_templates_version": "0.11.44",
        "comfy_package_versions": PACKAGE_VERSIONS,
        "python_version": sys.version,
        "pytorch_version": "2.14.1+cu130",
        "embedded_python": False,
        "deploy_environment": "local-git",
        "argv": ["main.py", "--listen", "127.0.0.1", "--port", str(backend.port)],
    }
    return web.json_response({"system": system, "devices": [_device(backend)]})


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    """The server's feature flags."""
    return web.json_response(SERVER_FEATURES)


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    """Every node class of this backend."""
    backend = request.app[BACKEND]
    return web.json_response(backend.catalogue.export(backend.visible_classes()))


@routes.get("/object_info/{node_class}")
async def object_info_one(request: web.Request) -> web.Response:
    """{class: info}, or {} (200) for a class this backend does not have."""
    backend = request.app[BACKEND]
    name = request.match_info["node_class"]
    visible = set(backend.visible_classes())
    return web.json_response(backend.catalogue.export([name]) if name in visible else {})


@routes.get("/models")
async def models(request: web.Request) -> web.Response:
    """The model folder names."""
    return web.json_response(request.app[BACKEND].inventory.folders())


@routes.get("/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    """A folder's files, or 404 with an empty body for an unknown folder."""
    inventory = request.app[BACKEND].inventory
    folder = request.match_info["folder"]
    if not inventory.has_folder(folder):
        return web.Response(status=404)
    return web.json_response(inventory.files(folder))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    """Embedding names without extensions."""
    names = request.app[BACKEND].inventory.files("embeddings")
    return web.json_response([name.rsplit(".", 1)[0] for name in names])


@routes.get("/view")
async def view(request: web.Request) -> web.Response:
    """A stored image (always served as PNG; previews are not re-encoded)."""
    query = request.rel_url.query
    if "filename" not in query:
        return web.Response(status=404)
    filename, kind = split_annotation(query["filename"], query.get("type", "output"))
    if not filename or filename.startswith("/") or ".." in filename or kind not in FOLDER_TYPES:
        return web.Response(status=400)
    subfolder = query.get("subfolder", "")
    if escapes(subfolder):
        return web.Response(status=403)
    data = request.app[BACKEND].files.get(kind, subfolder, filename)
    if data is None:
        return web.Response(status=404)
    headers = {
        "Content-Disposition": f'filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "ETag": '"' + hashlib.sha256(data).hexdigest()[:16] + '"',
        "Last-Modified": formatdate(usegmt=True),
    }
    return web.Response(body=data, content_type="image/png", headers=headers)


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    """Store an uploaded image; {"name", "subfolder", "type"} (renamed when the name is taken)."""
    form = await request.post()
    image = form.get("image")
    if not isinstance(image, web.FileField) or not image.filename:
        return web.Response(status=400)
    kind = str(form.get("type") or "input")
    subfolder = str(form.get("subfolder") or "")
    if kind not in FOLDER_TYPES or escapes(subfolder) or escapes(image.filename):
        return web.Response(status=400)
    overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
    name = request.app[BACKEND].files.upload(
        kind, subfolder, image.filename, image.file.read(), overwrite
    )
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})
