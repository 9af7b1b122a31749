"""The backend's input, output and temp folders, kept in memory, with ComfyUI's file naming."""

from __future__ import annotations

import hashlib
import posixpath
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Final

FOLDER_TYPES: Final = ("output", "input", "temp")
_ANNOTATION: Final = re.compile(r"^(.*) \[(output|input|temp)\]$")


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small valid PNG of one colour (at most 64 px a side; real sizes do not matter here)."""
    w, h = max(1, min(width, 64)), max(1, min(height, 64))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * w
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * h))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG header, or None if the bytes are not a PNG."""
    if len(data) < 24 or not data.startswith(b"\x89PNG"):
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def split_annotation(name: str, default_type: str) -> tuple[str, str]:
    """`name.png [output]` → ("name.png", "output"); no annotation → the default type."""
    found = _ANNOTATION.match(name)
    return (found.group(1), found.group(2)) if found else (name, default_type)


def escapes(path: str) -> bool:
    """Whether a relative path leaves its folder."""
    normal = posixpath.normpath(path or ".")
    return posixpath.isabs(path) or normal == ".." or normal.startswith("../")


@dataclass
class FileStore:
    """Files by folder type then relative path (`subfolder/name`)."""

    folders: dict[str, dict[str, bytes]] = field(
        default_factory=lambda: {kind: {} for kind in FOLDER_TYPES}
    )

    def __post_init__(self) -> None:
        self.folders["input"].setdefault("example.png", png_bytes(64, 64, (200, 120, 40)))

    def get(self, kind: str, subfolder: str, filename: str) -> bytes | None:
        """A file's bytes, or None."""
        return self.folders.get(kind, {}).get(
            posixpath.join(subfolder, filename) if subfolder else filename
        )

    def put(self, kind: str, subfolder: str, filename: str, data: bytes) -> None:
        """Write a file."""
        path = posixpath.join(subfolder, filename) if subfolder else filename
        self.folders[kind][path] = data

    def wipe(self, kind: str) -> None:
        """Empty a folder (ComfyUI wipes temp at start and exit)."""
        self.folders[kind].clear()

    def top_level(self, kind: str) -> list[str]:
        """Sorted names directly in a folder (LoadImage's choices)."""
        return sorted(path for path in self.folders[kind] if "/" not in path)

    def input_exists(self, annotated: str) -> bool:
        """LoadImage's check: does `name`, `sub/name` or `name [type]` exist?"""
        name, kind = split_annotation(annotated, "input")
        return not escapes(name) and name in self.folders.get(kind, {})

    def next_counter(self, kind: str, subfolder: str, prefix: str) -> int:
        """ComfyUI's counter: one past the highest `<prefix>_NNNNN_` already in the folder."""
        pattern = re.compile(re.escape(prefix) + r"_(\d{5})_")
        highest = 0
        for path in self.folders[kind]:
            folder, name = posixpath.split(path)
            found = pattern.match(name)
            if folder == subfolder and found:
                highest = max(highest, int(found.group(1)))
        return highest + 1

    def save_batch(
        self,
        kind: str,
        prefix_path: str,
        count: int,
        size: tuple[int, int],
        rgb: tuple[int, int, int],
    ) -> list[dict[str, str]]:
        """Write `count` PNGs named `<prefix>_<counter>_.png`; the UI entries for them."""
        subfolder, prefix = posixpath.split(prefix_path)
        counter = self.next_counter(kind, subfolder, prefix)
        entries = []
        for offset in range(count):
            filename = f"{prefix}_{counter + offset:05}_.png"
            self.put(kind, subfolder, filename, png_bytes(*size, rgb))
            entries.append({"filename": filename, "subfolder": subfolder, "type": kind})
        return entries

    def upload(self, kind: str, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str:
        """Store an upload; a taken name with other content becomes `name (1).png`."""
        stem, dot, ext = filename.rpartition(".")
        stem, ext = (stem, f".{ext}") if dot else (filename, "")
        candidate, n = filename, 1
        while not overwrite:
            existing = self.get(kind, subfolder, candidate)
            if existing is None or existing == data:
                break
            candidate = f"{stem} ({n}){ext}"
            n += 1
        self.put(kind, subfolder, candidate, data)
        return candidate

    def sha256(self, kind: str, annotated: str) -> str:
        """Content hash of a file (LoadImage's IS_CHANGED), or 'missing'."""
        name, kind = split_annotation(annotated, kind)
        data = self.folders.get(kind, {}).get(name)
        return hashlib.sha256(data).hexdigest() if data is not None else "missing"
