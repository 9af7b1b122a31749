"""Several simulated backends in one event loop, each on its own loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import TracebackType

from comfysim.backend import SimBackend
from comfysim.spec import SimBackendSpec


class SimCluster:
    """Async context manager that runs one SimBackend per spec."""

    def __init__(self, specs: Iterable[SimBackendSpec]) -> None:
        specs = list(specs)
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"backend ids must be unique: {ids}")
        self._backends = {spec.id: SimBackend(spec) for spec in specs}

    @property
    def urls(self) -> dict[str, str]:
        """Backend id → http://127.0.0.1:<port>."""
        return {backend_id: backend.url for backend_id, backend in self._backends.items()}

    def backend(self, backend_id: str) -> SimBackend:
        """The backend object, to inject faults, crash it or inspect its state."""
        return self._backends[backend_id]

    def backends(self) -> list[SimBackend]:
        """Every backend, in spec order."""
        return list(self._backends.values())

    async def start(self) -> None:
        """Start every backend."""
        await asyncio.gather(*(backend.start() for backend in self._backends.values()))

    async def stop(self) -> None:
        """Stop every backend."""
        await asyncio.gather(*(backend.stop() for backend in self._backends.values()))

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
