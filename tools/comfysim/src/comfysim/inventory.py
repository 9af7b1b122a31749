"""What a backend has on disk: its model files (minus those a fault hid) and its input images."""

from __future__ import annotations

from collections.abc import Callable

from comfysim.files import FileStore, png_size, split_annotation
from comfysim.model_folders import INPUT_FOLDER, LISTED_FOLDERS, canonical_folder


class BackendInventory:
    """Model folders from the spec, input images from the file store, hidden names excluded."""

    def __init__(
        self, models: dict[str, list[str]], files: FileStore, hidden: Callable[[], set[str]]
    ) -> None:
        self._models: dict[str, list[str]] = {}
        for folder, names in models.items():
            self._models.setdefault(canonical_folder(folder), []).extend(names)
        self._files = files
        self._hidden = hidden

    def folders(self) -> list[str]:
        """GET /models: the standard folder names plus any extra ones from the spec."""
        extra = [f for f in self._models if f not in LISTED_FOLDERS]
        return [*LISTED_FOLDERS, *extra]

    def has_folder(self, folder: str) -> bool:
        """Whether GET /models/{folder} answers 200."""
        return canonical_folder(folder) in self.folders()

    def files(self, folder: str) -> list[str]:
        """Sorted file names of a models folder, or the input images for LoadImage."""
        if folder == INPUT_FOLDER:
            return self._files.top_level("input")
        hidden = self._hidden()
        names = self._models.get(canonical_folder(folder), [])
        return sorted({name for name in names if name not in hidden})

    def all_models(self) -> list[str]:
        """Every model file name in every folder (hidden ones included)."""
        return sorted({name for names in self._models.values() for name in names})

    def input_exists(self, annotated: str) -> bool:
        """Whether a LoadImage value names an existing file."""
        return self._files.input_exists(annotated)

    def image_size(self, annotated: str) -> tuple[int, int]:
        """Pixel size of an input image (512×512 when unknown)."""
        name, kind = split_annotation(annotated, "input")
        data = self._files.folders.get(kind, {}).get(name)
        return (png_size(data) if data else None) or (512, 512)
