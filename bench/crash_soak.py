"""Crash soak: a phased rollout to virtual agents, the server killed with SIGKILL at a
random moment and restarted on the same data, again and again.

Run: .venv/bin/python bench/crash_soak.py [--rounds 10] [--targets 200] [--seed N]
                                          [--database-url postgresql://user@host/postgres]

Each round (tests/support/crash_rollout.py, the same one the test suite runs once) makes
a data folder, enrolls the virtual agents (tests/support/virtual_fleet.py), starts
`golive server` with its engine inside on a free loopback port, deploys one version
in waves 1,10%,50%,100% and kills the server after a random number of targets have
finished (plus up to 0.5 s), leaves it down for up to 1 s and starts it again. A
round passes when the rollout ends succeeded, every target runs the version per the
records and per its agent, no assignment was created, dispatched or executed twice,
and `golive audit verify` (and the API's) finds the chain intact.

SQLite in the data folder by default. With --database-url (a PostgreSQL server whose
user may create databases) each round gets a fresh database there, dropped at the end.
Everything is removed at the end; the folders of failed rounds are kept (--keep for all).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the PostgreSQL server of ``server_url``; its URL."""
    from sqlalchemy import create_engine, make_url, text

    from golive.db import normalise_url

    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return (
        make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)
    )


def drop_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from golive.db import normalise_url

    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="first round's seed (random)")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per rollout")
    parser.add_argument("--keep", action="store_true", help="keep every round's folder")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))  # tests.support is a package of the repository, not golive
    from tests.support.crash_rollout import crash_round

    first = args.seed if args.seed is not None else random.randrange(2**32)  # noqa: S311
    work = Path(tempfile.mkdtemp(prefix="golive-crash-soak-"))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{args.rounds} rounds of a phased rollout to {args.targets} virtual agents on "
        f"{backend}, the server killed with SIGKILL once a round (seeds from {first})\n"
    )
    header = f"{'round':>5}  {'seed':>10}  {'killed at':>9}  {'done':>9}  {'down':>5}  "
    print(header + f"{'rollout':>7}  {'round':>6}  verdict")
    passed = 0
    kept: list[Path] = []
    try:
        for number in range(1, args.rounds + 1):
            seed = first + number - 1
            folder = work / f"round-{number:02d}"
            folder.mkdir()
            name = f"golive_soak_{seed}"
            database_url = fresh_database(args.database_url, name) if args.database_url else None
            began = time.monotonic()
            try:
                result = crash_round(
                    folder,
                    seed=seed,
                    targets=args.targets,
                    database_url=database_url,
                    timeout=args.timeout,
                )
                problems = result.problems
            except Exception as crash:  # a round that could not even finish counts as failed
                result = None
                problems = [f"the round itself failed: {type(crash).__name__}: {crash}"]
            finally:
                if args.database_url:
                    drop_database(args.database_url, name)
            took = time.monotonic() - began
            verdict = "pass" if not problems else "FAIL"
            if result is not None:
                print(
                    f"{number:>5}  {seed:>10}  {result.kill_after_seconds:>8.2f}s  "
                    f"{result.done_at_kill:>4}/{args.targets:<4}  {result.down_seconds:>4.2f}s  "
                    f"{result.elapsed_seconds:>6.1f}s  {took:>5.1f}s  {verdict}",
                    flush=True,
                )
            else:
                print(
                    f"{number:>5}  {seed:>10}  {'-':>9}  {'-':>9}  {'-':>5}  "
                    f"{'-':>7}  {took:>5.1f}s  {verdict}",
                    flush=True,
                )
            for problem in problems:
                print(f"       - {problem}")
            if problems:
                kept.append(folder)
            else:
                passed += 1
                if not args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
        print(
            f"\n{passed}/{args.rounds} rounds passed: the rollout survived SIGKILL of its "
            f"server {passed} time(s) with every target on the version and nothing run twice"
        )
        if kept:
            print("kept for a look: " + ", ".join(str(path) for path in kept))
        return 0 if passed == args.rounds else 1
    finally:
        if not kept and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
