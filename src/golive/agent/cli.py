"""``golive-agent`` (and ``python -m golive.agent``): argparse only, so the agent installs
without the server's dependencies.

Exit codes: 0 done, 1 unexpected error, 2 bad usage or root folder (another agent holds it),
3 credential revoked or refused, 4 server unreachable (``--once`` only).

Test-only fault injection: GOLIVE_AGENT_CRASH_AT=download|unpack|switch makes the agent
exit at once with status 137 (as if killed) mid-download, mid-unpack, or between switching
``current`` and the health check. Never set it outside tests.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from golive import __version__
from golive.agent.agent import Agent, AgentOptions
from golive.agent.errors import AgentError
from golive.agent.fetch import DEFAULT_MAX_ARTIFACT_BYTES


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="golive-agent",
        description="Pull this target's desired state from golive, install, verify, report.",
    )
    top.add_argument("--version", action="version", version=f"golive-agent {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="enroll if needed, then poll and install")
    run.add_argument("--server", required=True, help="the golive server's base URL")
    run.add_argument("--root", required=True, type=Path, help="the agent's folder on this target")
    run.add_argument("--enroll-token", help="a gle_ enrollment token (first run only)")
    run.add_argument("--name", help="the target's name (default: the host name)")
    run.add_argument("--once", action="store_true", help="one check-in, then exit")
    run.add_argument(
        "--poll-interval",
        type=_positive,
        help="longest wait between check-ins (default: the server's); the server holds a "
        "check-in up to this long (60 s at most) and answers as soon as something changes; "
        "under 1 s polls instead",
    )
    run.add_argument(
        "--max-artifact-bytes",
        type=int,
        default=DEFAULT_MAX_ARTIFACT_BYTES,
        help="refuse artifacts larger than this",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log each step")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="golive-agent: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # --verbose logs the agent's steps; httpx's line per request (one every poll) is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = AgentOptions(
        server=args.server,
        root=args.root,
        enroll_token=args.enroll_token,
        name=args.name,
        once=args.once,
        poll_interval=args.poll_interval,
        max_artifact_bytes=args.max_artifact_bytes,
    )
    agent = Agent(options)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        agent.interrupt()  # a held check-in is abandoned at once

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        return agent.run()
    except AgentError as error:
        print(f"golive-agent: {error.message}", file=sys.stderr)
        return error.exit_code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
