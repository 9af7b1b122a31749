"""`ack_position` reads what nats-py's own metadata parse reads from an ack subject."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from analytics.projector import AckPosition, ack_position

SUBJECTS = [
    "$JS.ACK.EVENTS.analytics-events.3.1042.998.1733180000000000000.17",
    "$JS.ACK.hub.ACCHASH.TELEMETRY.analytics-telemetry.1.7.7.1733180000000000000.0.tok",
    "$JS.ACK._.ACCHASH.EVENTS.analytics-events.12.65536.1.1733180000000000000.4",
]


@pytest.mark.parametrize("reply", SUBJECTS)
def test_ack_position_agrees_with_nats_py_metadata(reply: str) -> None:
    metadata = Msg.Metadata._from_reply(reply)
    assert ack_position(reply) == AckPosition(
        metadata.stream, metadata.num_delivered, metadata.sequence.stream
    )
