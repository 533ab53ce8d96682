"""The load generator: raw HTTP/1.1 over keep-alive loopback sockets, one process.

    python -m bench.ingest.load closed --port P --path /webhooks/shopify --connections 32
    python -m bench.ingest.load open --port P --path /webhooks/shopify --rate 500

Prints one JSON object: completed requests, elapsed seconds, answers by status,
latency percentiles in milliseconds. In the open loop a request's latency counts
from the moment it was due, so a stalled server cannot hide its queueing delay.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.ingest.payload import order_body, request_template

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(seconds)


def request_maker(path: str, port: int) -> Callable[[], bytes]:
    head, tail = request_template(path, f"127.0.0.1:{port}", order_body())
    ids = itertools.count()
    prefix = f"bench-{time.time_ns()}-".encode()
    return lambda: head + prefix + str(next(ids)).encode() + tail


async def exchange(connection: Connection, request: bytes) -> int:
    reader, writer = connection
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def connect(port: int) -> Connection:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_loop(
    port: int, path: str, connections: int, seconds: float
) -> tuple[Tally, float]:
    make = request_maker(path, port)
    tally = Tally()
    pool = [await connect(port) for _ in range(connections)]
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            status = await exchange(connection, make())
            tally.record(status, time.perf_counter() - sent)

    await asyncio.gather(*(worker(connection) for connection in pool))
    elapsed = time.perf_counter() - start
    for _, writer in pool:
        writer.close()
    return tally, elapsed


async def open_loop(port: int, path: str, rate: float, seconds: float) -> tuple[Tally, float]:
    make = request_maker(path, port)
    tally = Tally()
    idle: list[Connection] = [await connect(port) for _ in range(16)]
    opened = list(idle)

    async def one(due: float) -> None:
        connection = idle.pop() if idle else await connect(port)
        if connection not in opened:
            opened.append(connection)
        status = await exchange(connection, make())
        tally.record(status, time.perf_counter() - due)
        idle.append(connection)

    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for _, writer in opened:
        writer.close()
    return tally, elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(tally: Tally, elapsed: float) -> dict[str, object]:
    count = len(tally.latencies)
    return {
        "count": count,
        "elapsed": elapsed,
        "rps": count / elapsed if elapsed else 0.0,
        "statuses": {str(status): n for status, n in sorted(tally.statuses.items())},
        "p50_ms": percentile(tally.latencies, 0.50) * 1000,
        "p99_ms": percentile(tally.latencies, 0.99) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.load")
    parser.add_argument("mode", choices=["closed", "open"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args(argv)
    if args.mode == "closed":
        job = closed_loop(args.port, args.path, args.connections, args.seconds)
    else:
        job = open_loop(args.port, args.path, args.rate, args.seconds)
    try:
        import uvloop
    except ImportError:
        tally, elapsed = asyncio.run(job)
    else:
        tally, elapsed = uvloop.run(job)
    json.dump(summary(tally, elapsed), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
