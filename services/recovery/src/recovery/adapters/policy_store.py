"""The live default recovery policy (`subjects.KV_POLICY`, key `subjects.POLICY_KEY`).

A watch keeps `current` up to date, so an operator's change applies to the next decision
without a restart. A value that does not decode is logged and ignored.
"""

from __future__ import annotations

import msgspec
import structlog
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from contracts import subjects
from contracts.policy import RecoveryPolicy
from cr_client.bus import Bus
from recovery.adapters.kv_watch import KvFollower, KvView

log = structlog.get_logger(__name__)
_DECODER = msgspec.json.Decoder(RecoveryPolicy)


class PolicyStore(KvView):
    """The current default policy: the KV value, else the configured one."""

    def __init__(self, kv: KeyValue, configured: RecoveryPolicy) -> None:
        self._kv = kv
        self.configured = configured
        self.current = configured
        self._follower = KvFollower(kv, subjects.POLICY_KEY, self._absorb)

    @classmethod
    async def open(cls, bus: Bus, configured: RecoveryPolicy) -> PolicyStore:
        """A store on the bus's policy bucket, loaded with the value there now."""
        store = cls(await bus.kv(subjects.KV_POLICY), configured)
        await store.load()
        return store

    def _absorb(self, entry: KeyValue.Entry) -> None:
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            self.current = self.configured
            log.info("policy.reset_to_configured")
            return
        try:
            self.current = _DECODER.decode(entry.value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("policy.undecodable", error=str(exc), revision=entry.revision)
            return
        log.info("policy.changed", revision=entry.revision)


def encode_policy(policy: RecoveryPolicy) -> bytes:
    """The KV value of a policy (what operators put)."""
    return msgspec.json.encode(policy)
