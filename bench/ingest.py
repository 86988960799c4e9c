"""Ingest benchmark: a 1 GiB file through the real API against cp and openssl, then
2,000 small versions.

Run: .venv/bin/python bench/ingest.py [--size-mib 1024] [--small 2000]

It starts its own golive server on a free loopback port in a temporary folder,
measures in the same run on the same machine, prints the figures and ratios,
and removes everything when done. Goals (issue 3): ingest time at most 1.25x
the slower of `cp` and `openssl dgst -sha256`; at least 200 small versions/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

CHUNK = 1024 * 1024
DRAIN_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="golive-bench-", dir=os.environ.get("BENCH_DIR")))
    home = work / "home"
    server = None
    try:
        subprocess.run(
            [sys.executable, "-m", "golive", "init", "--home", str(home)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        token = (home / "admin.token").read_text().strip()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "golive", "server", "--home", str(home), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(300):
            try:
                httpx.get(f"{url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.post(
            f"{url}/api/v1/components", json={"name": "bench", "kind": "software"}, headers=auth
        ).raise_for_status()

        size = args.size_mib * CHUNK
        source = work / "source.bin"
        print(f"writing a {args.size_mib} MiB file of random bytes ...", flush=True)
        with source.open("wb") as handle:
            for _ in range(args.size_mib):
                handle.write(os.urandom(CHUNK))
        subprocess.run(["cat", str(source)], check=True, stdout=subprocess.DEVNULL)  # warm cache

        cp_time = timed(["cp", str(source), str(work / "copy.bin")])
        (work / "copy.bin").unlink()
        sha_time = timed(["openssl", "dgst", "-sha256", str(source)])

        # Context: the same upload to an app that only receives and discards it, on the
        # same server stack (uvicorn, httptools, uvloop): the cost of HTTP alone here.
        (work / "drain_app.py").write_text(DRAIN_APP)
        drain_port = free_port()
        drain = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "drain_app:app",
                "--port",
                str(drain_port),
                "--log-level",
                "warning",
            ],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{drain_port}/", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            started = time.perf_counter()
            httpx.post(
                f"http://127.0.0.1:{drain_port}/",
                content=file_chunks(source),
                timeout=3600,
                headers={"Content-Length": str(size)},
            ).raise_for_status()
            drain_time = time.perf_counter() - started
        finally:
            drain.terminate()
            drain.wait(timeout=30)

        started = time.perf_counter()
        answer = httpx.post(
            f"{url}/api/v1/components/bench/versions",
            params={"version": "big"},
            content=file_chunks(source),
            timeout=3600,
            headers={
                **auth,
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
            },
        )
        ingest_time = time.perf_counter() - started
        answer.raise_for_status()

        mb = size / 1e6
        limit = max(cp_time, sha_time)
        print(f"\n{'what':<34}{'seconds':>10}{'MB/s':>10}")
        for label, seconds in (
            ("cp", cp_time),
            ("openssl dgst -sha256", sha_time),
            ("HTTP upload alone (discarded)", drain_time),
            ("golive ingest (HTTP, hash, fsync)", ingest_time),
        ):
            print(f"{label:<34}{seconds:>10.2f}{mb / seconds:>10.0f}")
        ratio = ingest_time / limit
        print(
            f"ingest / slower of cp and sha256 = {ratio:.2f} (goal <= 1.25): "
            f"{'met' if ratio <= 1.25 else 'NOT met'}"
        )

        def add_small(number: int, client: httpx.Client) -> None:
            data = number.to_bytes(8, "big") * 512  # 4 KiB, distinct per version
            client.post(
                "/api/v1/components/bench/versions",
                params={"version": f"s{number}"},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            ).raise_for_status()

        clients = [
            httpx.Client(base_url=url, headers=auth, timeout=60) for _ in range(args.workers)
        ]
        try:
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                list(pool.map(lambda n: add_small(n, clients[n % args.workers]), range(args.small)))
            small_time = time.perf_counter() - started
        finally:
            for client in clients:
                client.close()
        rate = args.small / small_time
        print(
            f"\n{args.small} versions of 4 KiB with {args.workers} clients: {small_time:.2f} s, "
            f"{rate:.0f} versions/s (goal >= 200): {'met' if rate >= 200 else 'NOT met'}"
        )
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
