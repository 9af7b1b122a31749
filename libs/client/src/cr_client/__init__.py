"""The job client of comfy-recovery: submit, follow, cancel and retry jobs over NATS.

Depends only on `contracts` and nats-py.
"""

from cr_client.bus import Bus
from cr_client.client import JobClient, JobResult, terminal_status
from cr_client.rpc import request_stats

__all__ = ["Bus", "JobClient", "JobResult", "request_stats", "terminal_status"]
