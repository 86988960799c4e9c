"""Check-in benchmark: virtual agents doing no-change check-ins against the real server,
next to the same load against a hello-world app on the same server stack.

Run: .venv/bin/python bench/checkin.py [--agents 10000] [--concurrency 64] [--seconds 10]

It makes its own data folder, seeds the agents (targets with enrollment, as
`golive-agent` would leave them), starts `golive server` and a hello-world
FastAPI app under the same uvicorn settings on free loopback ports, and measures
from one asyncio process. Goals (issue 4, 2 cores): >= 3,000 no-change
check-ins/s with p99 < 50 ms, >= 40 % of the hello-world rate, and every one of
10,000 agents checking in within 60 s with zero errors. Everything is removed
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

HELLO_APP = """
from fastapi import FastAPI
from fastapi.responses import Response

app = FastAPI()


@app.get("/hello")
async def hello() -> Response:
    return Response(status_code=304, headers={"ETag": '"1-1"'})
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def seed(home: Path, count: int) -> list[str]:
    """Create ``count`` enrolled agents in the server's database; return their credentials."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from golive.agents import service
    from golive.agents.schemas import EnrollmentTokenCreate, Registration
    from golive.auth.service import SYSTEM
    from golive.db import Database
    from golive.inventory.schemas import EnvironmentCreate
    from golive.inventory.service import create_environment
    from golive.settings import Settings

    settings = Settings.from_env(home=home)
    db = Database(settings.database_url)
    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with db.writing() as session:
        create_environment(session, SYSTEM, EnvironmentCreate(name="fleet"))
        token, _ = service.create_enrollment_token(
            session, SYSTEM, EnrollmentTokenCreate(environment="fleet")
        )
        token_id = token.id
    credentials: list[str] = []
    batch = 500
    for start in range(0, count, batch):
        with db.writing() as session:
            for number in range(start, min(count, start + batch)):
                spec = Registration(name=f"agent-{number:05d}", public_key=public)
                credentials.append(service.register_agent(session, token_id, spec).credential)
        print(f"\r  seeded {len(credentials)}/{count} agents", end="", flush=True)
    print()
    db.dispose()
    return credentials


def start(
    argv: list[str], port: int, path: str, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{argv} did not answer on port {port}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def hammer(
    url: str, credentials: list[str], concurrency: int, seconds: float, etags: dict[str, str]
) -> tuple[int, int, list[float]]:
    """Back-to-back no-change check-ins from ``concurrency`` virtual agents for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    done = 0
    deadline = time.perf_counter() + seconds
    async with _session(concurrency) as client:

        async def agent(index: int) -> None:
            nonlocal errors, done
            while time.perf_counter() < deadline:
                credential = credentials[index % len(credentials)]
                index += concurrency
                headers = {
                    "Authorization": f"Bearer {credential}",
                    "If-None-Match": etags.get(credential, '"1-1"'),
                }
                started = time.perf_counter()
                try:
                    async with client.get(url, headers=headers) as answer:
                        await answer.read()
                        if answer.status != 304:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)
                done += 1

        await asyncio.gather(*(agent(i) for i in range(concurrency)))
    return done, errors, latencies


async def first_check_ins(url: str, credentials: list[str]) -> dict[str, str]:
    """Every agent's first check-in (200 with its ETag), as after enrollment."""
    etags: dict[str, str] = {}
    semaphore = asyncio.Semaphore(64)
    async with _session(64) as client:

        async def one(credential: str) -> None:
            async with (
                semaphore,
                client.get(url, headers={"Authorization": f"Bearer {credential}"}) as answer,
            ):
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"first check-in answered {answer.status}")
                etags[credential] = answer.headers["ETag"]

        await asyncio.gather(*(one(c) for c in credentials))
    return etags


async def fleet_interval(
    url: str, credentials: list[str], etags: dict[str, str], interval: float
) -> tuple[int, int, float, float]:
    """Each agent checks in once at a random moment of one poll interval, on its own
    connection (as separate machines would)."""
    ok = 0
    errors = 0
    latencies: list[float] = []
    begun = time.perf_counter()
    async with _session(512) as client:

        async def agent(credential: str, offset: float) -> None:
            nonlocal ok, errors
            await asyncio.sleep(offset)
            started = time.perf_counter()
            headers = {
                "Authorization": f"Bearer {credential}",
                "If-None-Match": etags[credential],
                "Connection": "close",
            }
            try:
                async with client.get(url, headers=headers) as answer:
                    await answer.read()
                    if answer.status == 304:
                        ok += 1
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - started)

        random.seed(7)
        offsets = [random.uniform(0, interval * 0.95) for _ in credentials]  # noqa: S311
        await asyncio.gather(*(agent(c, o) for c, o in zip(credentials, offsets, strict=True)))
    return ok, errors, time.perf_counter() - begun, percentile(latencies, 0.99)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=60.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="golive-checkin-"))
    home = work / "home"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "golive", "init", "--home", str(home)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"seeding {args.agents} agents ...")
        credentials = seed(home, args.agents)

        golive_port = free_port()
        processes.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "golive",
                    "server",
                    "--home",
                    str(home),
                    "--port",
                    str(golive_port),
                ],
                golive_port,
                "/api/v1/health",
            )
        )
        (work / "hello_app.py").write_text(HELLO_APP)
        hello_port = free_port()
        processes.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "hello_app:app",
                    "--port",
                    str(hello_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                hello_port,
                "/hello",
                cwd=work,
            )
        )
        golive_url = f"http://127.0.0.1:{golive_port}/api/v1/agent/desired"
        hello_url = f"http://127.0.0.1:{hello_port}/hello"

        etags = asyncio.run(first_check_ins(golive_url, credentials))
        print(f"{len(etags)} agents enrolled and checked in once\n")

        rows = []
        for label, url in (
            ("golive no-change check-in", golive_url),
            ("hello world, same stack", hello_url),
        ):
            asyncio.run(hammer(url, credentials, args.concurrency, 1.0, etags))  # warm up
            done, errors, latencies = asyncio.run(
                hammer(url, credentials, args.concurrency, args.seconds, etags)
            )
            rows.append(
                (
                    label,
                    done / args.seconds,
                    errors,
                    percentile(latencies, 0.5) * 1000,
                    percentile(latencies, 0.99) * 1000,
                )
            )
        print(f"{'what':<28}{'req/s':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}")
        for label, rate, errors, p50, p99 in rows:
            print(f"{label:<28}{rate:>10.0f}{errors:>8}{p50:>9.1f}{p99:>9.1f}")
        (_, rate, errors, _, p99), (_, hello_rate, _, _, _) = rows
        share = rate / hello_rate
        print(
            f"\ncheck-ins/s {rate:.0f} (goal >= 3000): {'met' if rate >= 3000 else 'NOT met'}; "
            f"p99 {p99:.1f} ms (goal < 50): {'met' if p99 < 50 else 'NOT met'}; "
            f"{share:.0%} of hello world (goal >= 40 %): {'met' if share >= 0.4 else 'NOT met'}"
        )

        ok, errors, took, p99 = asyncio.run(
            fleet_interval(golive_url, credentials, etags, args.interval)
        )
        verdict = "met" if ok == len(credentials) and errors == 0 and took <= 60 else "NOT met"
        print(
            f"\n{len(credentials)} agents, one poll interval of {args.interval:.0f} s: {ok} "
            f"check-ins in {took:.1f} s, {errors} errors, p99 {p99 * 1000:.1f} ms: {verdict}"
        )
        return 0
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("GOLIVE_LOG_FORMAT", "human")
    sys.exit(main())
