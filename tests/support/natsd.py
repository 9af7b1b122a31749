"""The test NATS server: the production launcher on a free port and a temporary store."""

from comfy_recovery.natsd import NatsServer, free_port

__all__ = ["NatsServer", "free_port"]
