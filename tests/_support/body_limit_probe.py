"""Measure the memory one oversized answer costs the client: run as a child process.

`python tests/_support/body_limit_probe.py {plain|gzip} LIMIT` starts a loopback aiohttp server
(on its own thread) that answers with 1 GiB: streamed as is, or as a gzip stream of 1 GiB of zeros
(about 1 MiB on the wire, `Content-Encoding: gzip`, with its Content-Length). A client with
`max_response_bytes=LIMIT` asks for it once. The process's peak RSS during that call, less its
RSS just before, is what the call cost; printed as JSON with the error's name.

The peak is Linux's high-water mark (`VmHWM`), reset to the current RSS just before the call
(`/proc/self/clear_refs`), so that nothing before the call counts: not the warm-up, and not the
parent's peak (`ru_maxrss` would report the pytest process's, inherited across fork and exec).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import struct
import sys
import threading
import zlib

import psutil
from aiohttp import web

from godeploy import GoDeployClient, GoDeployError

GIB = 1024**3
CHUNK = b"x" * (1024 * 1024)
EMPTY_PAGE = {
    "pageCount": 0,
    "totalItemCount": 0,
    "pageNumber": 1,
    "pageSize": 50,
    "hasPreviousPage": False,
    "hasNextPage": False,
    "isFirstPage": True,
    "isLastPage": True,
    "firstItemOnPage": 0,
    "lastItemOnPage": 0,
}


def gzip_of_zeros(size: int) -> bytes:
    """A gzip stream that inflates to `size` (a multiple of 1 MiB) zero bytes.

    Each MiB is compressed after a full flush, so its deflate bytes are the same every time:
    compressed once and repeated, which takes a fraction of compressing the whole GiB.
    """
    block = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // len(block)):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    blocks = compressed * (size // len(block))
    return header + blocks + compressor.flush(zlib.Z_FINISH) + trailer


class Server:
    """The answering server, on its own thread and loop (its memory is the same process's)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.bomb = gzip_of_zeros(GIB) if kind == "gzip" else b""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self.hits = 0
        self.runner: web.AppRunner | None = None

    async def products(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        return await (self.empty_page(request) if self.hits == 1 else self.huge(request))

    async def empty_page(self, request: web.Request) -> web.Response:
        return web.json_response({"items": [], "_pageInfo": EMPTY_PAGE, "_links": {}})

    async def huge(self, request: web.Request) -> web.StreamResponse:
        if self.kind == "gzip":
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            return web.Response(body=self.bomb, headers=headers)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client hangs up: expected
            for _ in range(GIB // len(CHUNK)):
                await response.write(CHUNK)
            await response.write_eof()
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.products)
        runner = self.runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(60)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)


def peak_rss() -> int:
    """The process's peak RSS since the last `reset_peak_rss()`, in bytes."""
    with open("/proc/self/status") as status:
        found = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    assert found is not None
    return int(found.group(1)) * 1024


def reset_peak_rss() -> None:
    """Set the peak RSS to the RSS now (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


async def measure(server: Server, limit: int) -> dict[str, object]:
    unit = "8d5a7c1e-1f0e-4a36-9d07-2b7f4c1d9e01"
    async with GoDeployClient(
        "a-token", unit, base_url=server.url, max_response_bytes=limit, max_retries=0
    ) as client:
        # Warm: the connection, the session and every code path but the big body.
        async for _ in client.products.list():
            pass
        reset_peak_rss()
        before = psutil.Process().memory_info().rss
        error = ""
        try:
            async for _ in client.products.list():
                pass
        except GoDeployError as caught:
            error = f"{type(caught).__name__}: {caught}"
        peak = peak_rss()
    return {"error": error, "growth": peak - before, "limit": limit, "before": before, "peak": peak}


def main() -> None:
    kind, limit = sys.argv[1], int(sys.argv[2])
    with Server(kind) as server:
        print(json.dumps(asyncio.run(measure(server, limit))))


if __name__ == "__main__":
    main()
