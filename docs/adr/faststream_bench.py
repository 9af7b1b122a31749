"""Re-measure ADR 0001: FastStream's JetStream pull consumer against raw nats-py, same server.

Not part of the product or the test suite (FastStream is not a dependency). Run it from a
throw-away virtualenv against a nats-server started with JetStream:

    uv venv /tmp/fs && uv pip install --python /tmp/fs/bin/python "faststream[nats]==0.7.8"
    # start any nats-server with JetStream (e.g. comfy_recovery.natsd.NatsServer), then
    /tmp/fs/bin/python docs/adr/faststream_bench.py nats://127.0.0.1:4222

Prints messages/s for: raw nats-py (fetch 64, explicit ack), FastStream pull subscriber with
manual ack (its documented path), and FastStream with batch pull + manual ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import nats
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import ConsumerConfig, StreamConfig

N = 64 * 78  # whole batches, so no fetch waits out its timeout at the end
STREAM = "ADRBENCH"


async def fill(js: nats.js.JetStreamContext, subject: str) -> None:
    body = b'{"job_id":"job-1","message":"CUDA out of memory. Tried to allocate 2.00 GiB"}' * 4
    for i in range(N):
        await js.publish(subject, body, headers={"Nats-Msg-Id": f"{subject}-{i}"})


async def raw(js: nats.js.JetStreamContext) -> float:
    await fill(js, "adr.raw")
    sub = await js.pull_subscribe("adr.raw", durable="raw", stream=STREAM)
    started, got = time.perf_counter(), 0
    while got < N:
        for msg in await sub.fetch(64, timeout=5):
            await msg.ack()
            got += 1
    return N / (time.perf_counter() - started)


async def faststream(url: str, js: nats.js.JetStreamContext, subject: str, batch: bool) -> float:
    await fill(js, subject)
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=subject.replace(".", "-"), filter_subject=subject, ack_policy="explicit"
        ),
    )
    broker = NatsBroker(url, logger=None)  # per-message INFO logs would dominate
    done = asyncio.Event()
    count = 0

    if batch:

        @broker.subscriber(
            subject,
            stream=JStream(STREAM, declare=False),
            durable=subject.replace(".", "-"),
            pull_sub=PullSub(batch_size=64, batch=True),
            ack_policy=AckPolicy.MANUAL,
        )
        async def handle_batch(body: list[bytes], msg: NatsMessage) -> None:
            nonlocal count
            await msg.ack()
            count += len(body)
            if count >= N:
                done.set()

    else:

        @broker.subscriber(
            subject,
            stream=JStream(STREAM, declare=False),
            durable=subject.replace(".", "-"),
            pull_sub=PullSub(batch_size=64),
            ack_policy=AckPolicy.MANUAL,
        )
        async def handle(body: bytes, msg: NatsMessage) -> None:
            nonlocal count
            await msg.ack()
            count += 1
            if count >= N:
                done.set()

    started = time.perf_counter()
    await broker.start()
    await asyncio.wait_for(done.wait(), 120)
    rate = N / (time.perf_counter() - started)
    await broker.stop()
    return rate


async def main(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    with contextlib.suppress(Exception):  # absent on a fresh server
        await js.delete_stream(STREAM)
    await js.add_stream(StreamConfig(name=STREAM, subjects=["adr.>"]))
    rates = {"raw nats-py": await raw(js)}
    rates["faststream pull, manual ack"] = await faststream(url, js, "adr.fs", batch=False)
    rates["faststream batch pull, manual ack"] = await faststream(url, js, "adr.fsb", batch=True)
    base = rates["raw nats-py"]
    for name, rate in rates.items():
        print(f"{name:<36} {rate:8.0f} msg/s  {rate / base:5.2f}x")
    await js.delete_stream(STREAM)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
