"""Ingest benchmark: a 1 GiB file through the real API against cp and openssl, then
2,000 small versions.

Run: .venv/bin/python bench/ingest.py [--size-mib 1024] [--repeat 3] [--small 2000]

It starts its own golive server on a free loopback port in a temporary folder,
measures in the same run on the same machine, prints the figures and ratios,
and removes everything when done. The machine is noisy: the 1 GiB part runs
--repeat times (cp, openssl, HTTP alone and the ingest, in turn) and compares
medians. Goals (issue 3): ingest time at most 1.25x
the slower of `cp` and `openssl dgst -sha256`; at least 200 small versions/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

CHUNK = 1024 * 1024
# The same HTTP server golive runs (uvicorn as golive configures it), with an app that
# only receives the body and throws it away: the cost of HTTP alone on this machine.
DRAIN_SERVER = """
import sys
import uvicorn
from golive.api.server import server_config

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

uvicorn.Server(server_config(app, "127.0.0.1", int(sys.argv[1]), lifespan="off")).run()
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


MEASURES = {
    "cp": "cp",
    "sha256": "openssl dgst -sha256",
    "drain": "HTTP upload alone (discarded)",
    "ingest": "golive ingest (HTTP, hash, write, fsync)",
}


def wait_until_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered at {url}")


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the 1 GiB part")
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
        wait_until_up(f"{url}/api/v1/health")
        httpx.post(
            f"{url}/api/v1/components", json={"name": "bench", "kind": "software"}, headers=auth
        ).raise_for_status()

        size = args.size_mib * CHUNK
        source = work / "source.bin"
        print(f"writing a {args.size_mib} MiB file of random bytes ...", flush=True)
        with source.open("wb") as handle:
            for _ in range(args.size_mib):
                handle.write(os.urandom(CHUNK))

        drain_port = free_port()
        drain = subprocess.Popen(
            [sys.executable, "-c", DRAIN_SERVER, str(drain_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_up(f"http://127.0.0.1:{drain_port}/")

        # One client, made before any clock starts: making one (its TLS context) takes
        # 30-50 ms, which is no part of an upload.
        uploader = httpx.Client(timeout=3600)

        def upload(target: str, params: dict[str, str], headers: dict[str, str]) -> float:
            started = time.perf_counter()
            answer = uploader.post(
                target,
                params=params,
                content=file_chunks(source),
                headers={**headers, "Content-Length": str(size)},
            )
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            return elapsed

        runs: dict[str, list[float]] = {name: [] for name in MEASURES}
        try:
            for run in range(args.repeat):
                # Each run ingests other bytes (a blob is stored once): change the first 8.
                with source.open("r+b") as handle:
                    handle.write(run.to_bytes(8, "big"))
                subprocess.run(["cat", str(source)], check=True, stdout=subprocess.DEVNULL)
                runs["cp"].append(timed(["cp", str(source), str(work / "copy.bin")]))
                (work / "copy.bin").unlink()
                runs["sha256"].append(timed(["openssl", "dgst", "-sha256", str(source)]))
                runs["drain"].append(upload(f"http://127.0.0.1:{drain_port}/", {}, {}))
                runs["ingest"].append(
                    upload(
                        f"{url}/api/v1/components/bench/versions",
                        {"version": f"big-{run}"},
                        {**auth, "Content-Type": "application/octet-stream"},
                    )
                )
                print(
                    f"run {run + 1}: "
                    + ", ".join(f"{name} {runs[name][-1]:.2f} s" for name in MEASURES),
                    flush=True,
                )
        finally:
            uploader.close()
            drain.terminate()
            drain.wait(timeout=30)

        mb = size / 1e6
        medians = {name: statistics.median(times) for name, times in runs.items()}
        print(f"\nmedians of {args.repeat} runs, each on the same {args.size_mib} MiB file")
        print(f"{'what':<40}{'seconds':>10}{'MB/s':>10}")
        for name, label in MEASURES.items():
            print(f"{label:<40}{medians[name]:>10.2f}{mb / medians[name]:>10.0f}")
        limit = max(medians["cp"], medians["sha256"])
        ratio = medians["ingest"] / limit
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
