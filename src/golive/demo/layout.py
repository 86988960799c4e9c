"""What the demo fleet is: its environments, targets and the sample component's versions.

Pure data and byte builders, no I/O: ``records.py`` puts them in the records and the media
library, ``fleet.py`` runs one real ``golive-agent`` per target.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

COMPONENT = "demo-shop"
FLEET_LABEL = ("fleet", "demo")
# The hooks a demo deployment passes (`golive deploy … --hook NAME=COMMAND`): they run the
# scripts shipped in each release, in the release folder, on the agent.
HOOKS: Mapping[str, str] = MappingProxyType(
    {"post_install": "sh start.sh", "health_check": "sh health.sh"}
)
# Reproducible archives: the same version always has the same bytes (and digest).
_MTIME = 1_767_225_600  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class DemoEnvironment:
    name: str
    order: int
    description: str


@dataclass(frozen=True)
class DemoTarget:
    name: str
    environment: str
    site: str

    @property
    def labels(self) -> dict[str, str]:
        return {"role": "web", "site": self.site, FLEET_LABEL[0]: FLEET_LABEL[1]}


@dataclass(frozen=True)
class DemoVersion:
    version: str
    notes: str
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{COMPONENT}-{self.version}.tar.gz"


ENVIRONMENTS = (
    DemoEnvironment("development", 1, "Demo fleet: where builds are tried first"),
    DemoEnvironment("test", 2, "Demo fleet: acceptance tests"),
    DemoEnvironment("production", 4, "Demo fleet: the live shop in two sites"),
)


def _targets() -> tuple[DemoTarget, ...]:
    found = [DemoTarget(f"dev-web-{n:02d}", "development", "lab") for n in range(1, 4)]
    found += [DemoTarget(f"test-web-{n:02d}", "test", "lab") for n in range(1, 4)]
    found += [
        DemoTarget(f"prod-web-{n:02d}", "production", "lon" if n <= 3 else "ams")
        for n in range(1, 7)
    ]
    return tuple(found)


TARGETS = _targets()

_WORKING = {"greeting": "Welcome to the demo shop", "payments_url": "https://payments.invalid/v1"}
VERSIONS = (
    DemoVersion("1.0.0", "First release of the demo shop", _WORKING),
    DemoVersion("1.1.0", "Faster checkout", {**_WORKING, "greeting": "Welcome back"}),
    # Approved by mistake: its configuration lost payments_url, so the app reports itself
    # unhealthy once started and the health check fails on every target.
    DemoVersion("1.2.0-bad", "New checkout (broken build: no payments_url)", {"greeting": "Hello"}),
)

# post_install: "start" the app, which renders its page and writes its own health status,
# as a real service would on start-up.
START_SH = """\
#!/bin/sh
# demo-shop post_install hook: start the app in this release folder.
set -u
version=$(sed -n 's/^version=//p' app.conf)
greeting=$(sed -n 's/^greeting=//p' app.conf)
payments=$(sed -n 's/^payments_url=//p' app.conf)
mkdir -p run
printf '<h1>demo-shop %s</h1>\\n<p>%s</p>\\n' "$version" "$greeting" > run/index.html
if [ -n "$payments" ]; then
    echo ok > run/health
else
    echo "checkout is down: app.conf sets no payments_url" > run/health
fi
echo "demo-shop $version started in $PWD"
"""

# health_check: the page shows the version being installed and the app says it is healthy.
HEALTH_SH = """\
#!/bin/sh
# demo-shop health_check hook: is the version just installed up and healthy?
set -u
if ! grep -q "demo-shop $GOLIVE_VERSION" run/index.html 2>/dev/null; then
    echo "demo-shop $GOLIVE_VERSION is not serving its page"
    exit 1
fi
status=$(cat run/health)
if [ "$status" != ok ]; then
    echo "demo-shop $GOLIVE_VERSION is unhealthy: $status"
    exit 1
fi
echo "demo-shop $GOLIVE_VERSION is healthy"
"""


def config_of(version: DemoVersion) -> str:
    lines = [f"name={COMPONENT}", f"version={version.version}"]
    lines += [f"{key}={value}" for key, value in sorted(version.settings.items())]
    return "\n".join(lines) + "\n"


def artifact(version: DemoVersion) -> bytes:
    """The version's release archive (tar.gz), byte for byte the same on every call."""
    files = {
        "app.conf": config_of(version).encode(),
        "start.sh": START_SH.encode(),
        "health.sh": HEALTH_SH.encode(),
    }
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.USTAR_FORMAT) as archive,
    ):
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = _MTIME
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
