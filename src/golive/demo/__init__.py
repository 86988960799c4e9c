"""The demo fleet ``golive up`` starts, so a newcomer can run a phased rollout at once.

A dozen real ``golive-agent`` processes (development 3, test 3, production 6), each in its
own folder under ``$GOLIVE_HOME/demo/agents/``, enrolled with real enrollment tokens, and
the sample component ``demo-shop`` in the media library: 1.0.0 and 1.1.0 are healthy,
1.2.0-bad fails its health check on the agent, so a phased rollout of it halts and rolls
back. ``layout.py`` says what the fleet is, ``records.py`` puts it in the records once,
``fleet.py`` runs the agents for as long as the server runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from golive.demo.fleet import DemoFleet, stop_leftovers
from golive.demo.layout import COMPONENT, ENVIRONMENTS, TARGETS, VERSIONS
from golive.demo.records import Prepared, demo_folder, prepare
from golive.errors import ConflictError
from golive.settings import Settings

__all__ = ["COMPONENT", "DemoFleet", "demo_fleet", "local_url", "summary"]


def local_url(host: str, port: int) -> str:
    """The URL agents on this machine reach a server listening on ``host:port`` by."""
    if host in ("", "0.0.0.0"):  # noqa: S104 (a comparison, not a bind)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def summary(prepared: Prepared, settings: Settings) -> list[str]:
    """What ``golive up`` tells the user about the demo fleet."""
    counts = ", ".join(
        f"{e.name} {sum(1 for t in TARGETS if t.environment == e.name)}" for e in ENVIRONMENTS
    )
    folder = demo_folder(settings)
    versions = ", ".join(v.version for v in VERSIONS)
    lines = [
        f"Demo fleet: {len(prepared.agents)} golive-agent processes ({counts}) start with the "
        f"server; their folders are in {folder / 'agents'}, their logs in {folder / 'logs'}.",
        f"{COMPONENT} {versions} are approved in the media library (the last one fails its "
        "health check). `golive up --no-demo` leaves the demo fleet out.",
    ]
    if prepared.created:
        kinds = Counter(kind for kind, _ in prepared.created)
        made = ", ".join(f"{count} {kind}(s)" for kind, count in kinds.items())
        lines.append(f"Demo records created now: {made}.")
    lines += [f"Demo agent not started: {reason}" for reason in prepared.not_started]
    return lines


@contextmanager
def demo_fleet(
    settings: Settings, host: str, port: int, announce: Callable[[str], object] = print
) -> Iterator[DemoFleet | None]:
    """Prepare the demo fleet's records, then run its agents until the block ends.

    With port 0 (a port the system picks) the agents cannot know where to go: the records
    are prepared but no agent starts.

    Raises:
        ConflictError: another ``golive up`` runs the demo fleet of this data folder.
    """
    folder = demo_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # Held while this process runs the fleet (the kernel drops it if the process dies), so
    # agents with pid files found while holding it were left by a ``golive up`` now gone.
    lock = FileLock(str(folder / "fleet.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConflictError(
            f"another golive up runs the demo fleet of {settings.home}; stop it first, "
            "or start this one with --no-demo"
        ) from None
    try:
        url = local_url(host, port)
        leftovers = stop_leftovers(folder)
        if leftovers:
            announce(f"Stopped {len(leftovers)} demo agent(s) an earlier golive up left running.")
        prepared = prepare(settings, url)
        for line in summary(prepared, settings):
            announce(line)
        if port == 0:
            announce("Demo agents not started: they need a fixed --port.")
            yield None
            return
        with DemoFleet(prepared.agents, url, folder) as fleet:
            yield fleet
    finally:
        lock.release()
