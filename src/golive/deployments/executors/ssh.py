"""Agentless push: the agent's install procedure, run on a host over SSH.

For targets whose connection is ``ssh`` golive does, remotely, what the agent
does locally (docs/agent-protocol.md, "Agent behaviour"): the blob goes to
``<root>/components/<component>/releases/<version>-<sha8>/``, ``current`` is
switched atomically, the health check decides, a failure switches back.

Safety rules, each a non-negotiable of DESIGN.md:

- The archive is checked locally before a byte is sent (no entry escapes).
- The host's key is always verified against the target's known_hosts; there is
  no trust on first use. Password authentication is off unless the target
  configures a password.
- The digest is verified on the host, over the bytes it received.
- Only complete release folders are ever switched to: unpacking happens in
  ``<release>.partial`` and is renamed when whole, and ``current`` changes by
  ``mv -T`` of a fresh symlink (rename(2), atomic).
- Every remote argument is quoted with :func:`shlex.quote`.

The remote host needs a POSIX shell and coreutils (``sha256sum``, ``timeout``,
``mv -T``), ``tar`` and, for zip archives, ``unzip`` or ``python3``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import asyncssh

from golive.deployments.executors.archive import ArchiveKind, check_archive
from golive.errors import IntegrityError, InvalidInputError
from golive.media.service import FILENAME_PATTERN, VERSION_PATTERN
from golive.validation import is_slug

DEFAULT_ROOT = "/opt/golive"
# docs/agent-protocol.md: hook output is truncated to 64 KiB.
OUTPUT_LIMIT = 64 * 1024
HOOK_NAMES = ("pre_install", "post_install", "health_check", "pre_rollback")
# Steps other than hooks (mkdir, sha256sum, unpacking a large archive) get this long.
STEP_TIMEOUT_SECONDS = 900.0
# Beyond the remote ``timeout``, how long the local side waits before giving up.
LOCAL_GRACE_SECONDS = 30.0
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-|rsa-)")

SshState = Literal["succeeded", "failed", "rolled_back"]
Progress = Callable[[str], None]
ClientKey = str | Path | asyncssh.SSHKey


@dataclass(frozen=True)
class SshTarget:
    """How to reach one SSH host.

    Attributes:
        address: host name or IP address.
        port: the SSH port.
        username: the account the procedure runs as.
        client_key: private key (a path or a loaded asyncssh key), or None.
        known_hosts: the known_hosts line(s) for this target, in OpenSSH
            format; a line without a host pattern applies to this target.
        password: only when set is password authentication attempted.
        connect_timeout_seconds: how long to wait for the connection and login.
    """

    address: str
    port: int
    username: str
    client_key: ClientKey | None
    known_hosts: str
    password: str | None = field(default=None, repr=False)
    connect_timeout_seconds: float = 30.0

    @property
    def host_pattern(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class SshJob:
    """One assignment for an SSH target, as the agent would receive it.

    Attributes:
        assignment_id: the assignment, named in temporary files and GOLIVE_ASSIGNMENT_ID.
        action: ``install`` or ``remove``.
        component, version, digest: what to install (digest: sha256 hex).
        filename: the version's registered file name; it decides how to unpack.
        blob_path: the local file holding the blob (verified from the DML);
            not needed for ``remove``.
        hooks: shell commands by name (pre_install, post_install, health_check,
            pre_rollback); any may be absent.
        hook_timeout_seconds: each hook's limit.
        keep_releases: how many release folders to keep, the current one included.
        root: the remote base folder.
    """

    assignment_id: int
    action: Literal["install", "remove"]
    component: str
    version: str
    digest: str
    filename: str
    blob_path: Path | None
    hooks: Mapping[str, str] = field(default_factory=dict)
    hook_timeout_seconds: float = 300.0
    keep_releases: int = 3
    root: str = DEFAULT_ROOT

    @property
    def release(self) -> str:
        return f"{self.version}-{self.digest[:8]}"


@dataclass(frozen=True)
class SshResult:
    """How the assignment ended on the target.

    Attributes:
        state: succeeded, failed (nothing switched, or the switch back failed)
            or rolled_back (``current`` is back where it was).
        reason: one sentence when not succeeded (or a note when nothing was to do).
        output: the hooks' combined output, at most 64 KiB (the tail is kept).
        release: the release folder name ``current`` points to afterwards, if any.
    """

    state: SshState
    reason: str | None = None
    output: str | None = None
    release: str | None = None


class _StepFailed(Exception):
    """A remote step failed; the message is the reason reported."""


def validate_job(job: SshJob) -> None:
    """Refuse a malformed job before anything is touched.

    Raises:
        InvalidInputError: naming the field and the rule it breaks.
    """
    if job.action not in ("install", "remove"):
        raise InvalidInputError(f"action {job.action!r} must be install or remove")
    if not is_slug(job.component):
        raise InvalidInputError(f"component {job.component!r} is not a valid component name")
    if VERSION_PATTERN.fullmatch(job.version) is None:
        raise InvalidInputError(f"version {job.version!r} is not a valid version name")
    if _DIGEST.fullmatch(job.digest) is None:
        raise InvalidInputError(f"digest {job.digest!r} must be 64 lower-case hex digits")
    root = PurePosixPath(job.root)
    if not root.is_absolute() or ".." in root.parts or any(c in job.root for c in "\0\n"):
        raise InvalidInputError(f"remote root {job.root!r} must be an absolute folder")
    unknown = sorted(set(job.hooks) - set(HOOK_NAMES))
    if unknown:
        raise InvalidInputError(
            f"unknown hook(s) {', '.join(unknown)}; hooks are {', '.join(HOOK_NAMES)}"
        )
    if job.hook_timeout_seconds <= 0:
        raise InvalidInputError("hook_timeout_seconds must be positive")
    if job.keep_releases < 1:
        raise InvalidInputError("keep_releases must be at least 1 (the current release)")
    if job.action == "install":
        if FILENAME_PATTERN.fullmatch(job.filename) is None:
            raise InvalidInputError(f"file name {job.filename!r} is not a plain file name")
        if job.blob_path is None or not Path(job.blob_path).is_file():
            raise InvalidInputError(f"blob {job.blob_path} is not a local file")


def known_hosts_for(target: SshTarget) -> asyncssh.SSHKnownHosts:
    """The target's known_hosts; bare key lines get the target's host pattern.

    Raises:
        InvalidInputError: no key is given, or a line is not known_hosts format.
    """
    lines = []
    for raw in target.known_hosts.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _KEY_TYPE.match(line):
            line = f"{target.host_pattern} {line}"
        lines.append(line)
    if not lines:
        raise InvalidInputError(
            f"target {target.host_pattern} has no known_hosts entry; host keys are always verified"
        )
    try:
        return asyncssh.import_known_hosts("\n".join(lines) + "\n")
    except (ValueError, asyncssh.KeyImportError) as error:
        raise InvalidInputError(f"known_hosts of {target.host_pattern}: {error}") from error


def connect_options(target: SshTarget) -> dict[str, object]:
    """The asyncssh options: verified host key, no agent, no user config, no guessing."""
    client_keys: list[ClientKey] | None = None
    if target.client_key is not None:
        key = target.client_key
        client_keys = [str(key) if isinstance(key, Path) else key]
    return {
        "port": target.port,
        "username": target.username,
        "known_hosts": known_hosts_for(target),
        "client_keys": client_keys,
        "password": target.password,
        "password_auth": target.password is not None,
        "kbdint_auth": False,
        "gss_auth": False,
        "host_based_auth": False,
        "agent_path": None,
        "config": None,
        "connect_timeout": target.connect_timeout_seconds,
        "login_timeout": target.connect_timeout_seconds,
    }


def command(*argv: str | PurePosixPath) -> str:
    """One remote command line, every argument shell-quoted."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def _tail(data: bytes | bytearray, limit: int = OUTPUT_LIMIT) -> str:
    if len(data) <= limit:
        return bytes(data).decode("utf-8", errors="replace")
    marker = "[… earlier output truncated …]\n".encode()
    kept = bytes(data[len(data) - (limit - len(marker)) :])
    return (marker + kept).decode("utf-8", errors="replace")


async def run_ssh_job(
    target: SshTarget, job: SshJob, progress: Progress | None = None
) -> SshResult:
    """Install or remove one component on an SSH host, as the agent would.

    Args:
        target: where and how to connect.
        job: what to do.
        progress: called with the assignment state entered: ``downloading``
            (upload), ``installing``, ``verifying`` (post_install, health check).

    Returns:
        The outcome. Failures on the way (archive refused, host key mismatch,
        authentication, digest mismatch on the host, a hook) are a result with
        a reason, not an exception.

    Raises:
        InvalidInputError: the job or the target's known_hosts is malformed;
            nothing was touched.
    """
    validate_job(job)
    options = connect_options(target)
    kind = ArchiveKind.FILE
    if job.action == "install":
        try:
            kind = check_archive(Path(str(job.blob_path)), filename=job.filename)
        except IntegrityError as error:
            return SshResult("failed", f"refused before sending: {error}")
    where = f"{target.username}@{target.host_pattern}"
    try:
        async with asyncssh.connect(target.address, **options) as connection:
            run = _RemoteRun(connection, job, progress or (lambda _state: None))
            if job.action == "remove":
                return await run.remove()
            return await run.install(kind)
    except asyncssh.HostKeyNotVerifiable as error:
        return SshResult(
            "failed",
            f"host key of {target.host_pattern} does not match the target's known_hosts "
            f"({error.reason})",
        )
    except asyncssh.PermissionDenied as error:
        how = "key" if target.password is None else "key or password"
        return SshResult("failed", f"authentication as {where} by {how} failed ({error.reason})")
    except asyncssh.Error as error:
        return SshResult("failed", f"SSH session with {where} failed: {error.reason}")
    except (OSError, TimeoutError) as error:
        return SshResult("failed", f"cannot reach {where}: {error or type(error).__name__}")


class _RemoteRun:
    """One job's steps on one open connection."""

    def __init__(
        self, connection: asyncssh.SSHClientConnection, job: SshJob, progress: Progress
    ) -> None:
        self.connection = connection
        self.job = job
        self.progress = progress
        self.component_dir = PurePosixPath(job.root) / "components" / job.component
        self.releases = self.component_dir / "releases"
        self.release_dir = self.releases / job.release
        self.partial = self.releases / f"{job.release}.partial"
        token = secrets.token_hex(4)
        self.upload = self.component_dir / f".upload.{job.assignment_id}.{token}"
        self.current = self.component_dir / "current"
        self.output = bytearray()

    # -- plumbing ---------------------------------------------------------------

    async def execute(self, line: str, timeout: float = STEP_TIMEOUT_SECONDS) -> tuple[int, bytes]:
        """Run one command; returns (exit status, merged stdout+stderr tail)."""
        buffer = bytearray()
        dropped = 0

        def captured() -> bytes:
            # Only the tail is kept while reading, so a chatty command cannot fill memory.
            marker = f"[… {dropped} earlier bytes truncated …]\n".encode() if dropped else b""
            return marker + bytes(buffer)

        async with self.connection.create_process(
            line, encoding=None, stdin=asyncssh.DEVNULL, stderr=asyncssh.STDOUT
        ) as process:

            async def pump() -> None:
                nonlocal dropped
                while chunk := await process.stdout.read(65536):
                    buffer.extend(chunk)
                    if len(buffer) > 2 * OUTPUT_LIMIT:
                        dropped += len(buffer) - OUTPUT_LIMIT
                        del buffer[: len(buffer) - OUTPUT_LIMIT]
                await process.wait()

            try:
                await asyncio.wait_for(pump(), timeout)
            except TimeoutError:
                process.close()
                return 124, captured()
            status = process.exit_status
        return (status if status is not None else 128), captured()

    async def step(self, what: str, line: str) -> str:
        """Run a step that must succeed; its output (text) is returned."""
        status, out = await self.execute(line)
        text = out.decode("utf-8", errors="replace").strip()
        if status != 0:
            detail = f": {text[-500:]}" if text else ""
            raise _StepFailed(f"{what} failed on the host (exit {status}){detail}")
        return text

    async def hook(self, name: str, release_dir: PurePosixPath, previous: str) -> str | None:
        """Run a hook in the release folder; None when it passed or is absent, else why."""
        script = self.job.hooks.get(name)
        if not script:
            return None
        job = self.job
        env = {
            "GOLIVE_COMPONENT": job.component,
            "GOLIVE_VERSION": job.version,
            "GOLIVE_DIGEST": job.digest,
            "GOLIVE_RELEASE_DIR": str(release_dir),
            "GOLIVE_PREVIOUS_RELEASE_DIR": previous,
            "GOLIVE_ACTION": job.action,
            "GOLIVE_ASSIGNMENT_ID": str(job.assignment_id),
        }
        prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        limit = f"{job.hook_timeout_seconds:g}"
        line = (
            f"cd {shlex.quote(str(release_dir))} && "
            f"{prefix} timeout -k 5 {limit} /bin/sh -c {shlex.quote(script)}"
        )
        status, out = await self.execute(line, job.hook_timeout_seconds + LOCAL_GRACE_SECONDS)
        self.output.extend(f"--- {name} (exit {status}) ---\n".encode())
        self.output.extend(out)
        if out and not out.endswith(b"\n"):
            self.output.extend(b"\n")
        if status == 0:
            return None
        if status == 124:
            return f"{name} hook timed out after {limit} s"
        return f"{name} hook failed (exit {status})"

    def result(self, state: SshState, reason: str | None, release: str | None) -> SshResult:
        output = _tail(self.output) if self.output else None
        return SshResult(state, reason, output, release)

    async def switch(self, link: str) -> None:
        """Point ``current`` at ``link`` atomically: a new symlink renamed over the old."""
        temporary = self.component_dir / f"current.tmp.{self.job.assignment_id}"
        await self.step(
            "switching current",
            f"{command('rm', '-f', '--', temporary)} && "
            f"{command('ln', '-s', '--', link, temporary)} && "
            f"{command('mv', '-T', '--', temporary, self.current)}",
        )

    def absolute(self, link: str) -> str:
        return str(self.component_dir / link) if link else ""

    # -- install ----------------------------------------------------------------

    async def install(self, kind: ArchiveKind) -> SshResult:
        wanted = f"releases/{self.job.release}"
        previous = ""
        try:
            previous, complete = await self.probe()
            if previous == wanted and complete:
                return await self.already_current(previous)
            if not complete:
                await self.stage(kind)
            else:
                self.progress("installing")
        except _StepFailed as failed:
            await self.cleanup_upload()
            return self.result("failed", str(failed), _release_name(previous))
        return await self.activate(previous, created=not complete)

    async def probe(self) -> tuple[str, bool]:
        """Where ``current`` points (as written, e.g. ``releases/1.0-abcd1234``, or ''),
        and whether this job's release folder is already complete."""
        current, release = shlex.quote(str(self.current)), shlex.quote(str(self.release_dir))
        text = await self.step(
            "looking at the component",
            f"{command('mkdir', '-p', '--', self.releases)} && "
            f'if [ -L {current} ]; then printf "current=%s\\n" "$(readlink -- {current})"; fi && '
            # Complete already: folders are only renamed into place when whole. The
            # touch makes it the newest release for pruning.
            f"if [ -d {release} ]; then touch -- {release} && echo complete; fi",
        )
        lines = text.splitlines()
        previous = next((line[8:] for line in lines if line.startswith("current=")), "")
        return previous, "complete" in lines

    async def already_current(self, link: str) -> SshResult:
        """A retried assignment whose switch already happened: verify, change nothing."""
        self.progress("verifying")
        why = await self.hook("health_check", self.release_dir, "")
        if why is not None:
            reason = f"{why}; the release was already current"
            return self.result("failed", reason, _release_name(link))
        return self.result("succeeded", "already installed", _release_name(link))

    async def stage(self, kind: ArchiveKind) -> None:
        """Upload, verify on the host and unpack into a complete ``releases/<release>``."""
        self.progress("downloading")
        try:
            async with self.connection.start_sftp_client() as sftp:
                await sftp.put(str(self.job.blob_path), str(self.upload))
        except (asyncssh.SFTPError, OSError) as error:
            raise _StepFailed(f"uploading {self.job.filename} failed: {error}") from error
        await self.verify_digest()
        self.progress("installing")
        await self.unpack(kind)

    async def verify_digest(self) -> None:
        text = await self.step("hashing the upload", command("sha256sum", "--", self.upload))
        received = text.split()[0].lstrip("\\") if text else ""
        if received != self.job.digest:
            raise _StepFailed(
                f"digest mismatch on the host: received sha256 {received}, "
                f"expected {self.job.digest}; nothing was installed"
            )

    async def unpack(self, kind: ArchiveKind) -> None:
        partial, upload = self.partial, self.upload
        if kind is ArchiveKind.TAR_GZ:
            extract = command("tar", "-xzf", upload, "-C", partial, "--no-same-owner")
        elif kind is ArchiveKind.TAR:
            extract = command("tar", "-xf", upload, "-C", partial, "--no-same-owner")
        elif kind is ArchiveKind.ZIP:
            extract = (
                f"if command -v unzip >/dev/null 2>&1; then "
                f"{command('unzip', '-q', upload, '-d', partial)}; else "
                f"{command('python3', '-m', 'zipfile', '-e', upload, partial)}; fi"
            )
        else:
            extract = command("mv", "--", upload, partial / self.job.filename)
        steps = [
            f"{command('rm', '-rf', '--', partial)} && {command('mkdir', '-p', '--', partial)}",
            f"{{ {extract}; }}",
            command("rm", "-f", "--", upload),
            # Durable before it is visible, newest for pruning, then visible in one rename.
            f"{{ {command('sync', '-f', partial)} 2>/dev/null || sync; }}",
            command("touch", "--", partial),
            command("mv", "-T", "--", partial, self.release_dir),
        ]
        try:
            await self.step(f"unpacking {self.job.filename}", " && ".join(steps))
        except _StepFailed:
            await self.execute(command("rm", "-rf", "--", partial))
            raise

    async def cleanup_upload(self) -> None:
        await self.execute(command("rm", "-f", "--", self.upload))

    async def activate(self, previous: str, *, created: bool) -> SshResult:
        wanted = f"releases/{self.job.release}"
        previous_dir = self.absolute(previous)
        before = _release_name(previous)
        why = await self.hook("pre_install", self.release_dir, previous_dir)
        if why is not None:
            if created:
                await self.execute(command("rm", "-rf", "--", self.release_dir))
            return self.result("failed", f"{why}; current was not switched", before)
        try:
            await self.switch(wanted)
        except _StepFailed as failed:
            return self.result("failed", str(failed), before)
        self.progress("verifying")
        why = await self.hook("post_install", self.release_dir, previous_dir)
        if why is None:
            why = await self.hook("health_check", self.release_dir, previous_dir)
        if why is not None:
            return await self.roll_back(previous, why)
        await self.prune(self.job.release)
        return self.result("succeeded", None, self.job.release)

    async def roll_back(self, previous: str, why: str) -> SshResult:
        """Switch ``current`` back to where it pointed before this job."""
        previous_dir = self.absolute(previous)
        await self.hook("pre_rollback", self.release_dir, previous_dir)
        try:
            if previous:
                await self.switch(previous)
                where = f"back on {previous}"
            else:
                await self.step("removing current", command("rm", "-f", "--", self.current))
                where = "no previous release, current removed"
        except _StepFailed as failed:
            return self.result("failed", f"{why}; rolling back failed: {failed}", self.job.release)
        before = _release_name(previous)
        if before is not None:
            await self.prune(before)
        return self.result("rolled_back", f"{why}; rolled back ({where})", before)

    async def prune(self, keep: str) -> None:
        """Keep the newest ``keep_releases`` release folders, always including ``keep``."""
        try:
            listing = await self.step(
                "listing releases", f"cd {shlex.quote(str(self.releases))} && LC_ALL=C ls -1At"
            )
        except _StepFailed:
            return  # pruning is housekeeping; the next install tries again
        names = [name for name in listing.splitlines() if _is_release_name(name)]
        kept = [keep] + [name for name in names if name != keep]
        doomed = kept[self.job.keep_releases :]
        if doomed:
            await self.execute(command("rm", "-rf", "--", *(self.releases / n for n in doomed)))

    # -- remove -----------------------------------------------------------------

    async def remove(self) -> SshResult:
        self.progress("installing")
        component_dir = shlex.quote(str(self.component_dir))
        try:
            status, _ = await self.execute(f"test -e {component_dir} || test -L {component_dir}")
            if status != 0:
                return self.result("succeeded", "not installed", None)
            # current goes first, so nothing starts from a folder being deleted.
            await self.step("removing current", command("rm", "-f", "--", self.current))
            await self.step(
                "removing the component", command("rm", "-rf", "--", self.component_dir)
            )
        except _StepFailed as failed:
            return self.result("failed", str(failed), None)
        return self.result("succeeded", None, None)


def _is_release_name(name: str) -> bool:
    version, dash, sha8 = name.rpartition("-")
    return (
        bool(dash)
        and re.fullmatch(r"[0-9a-f]{8}", sha8) is not None
        and VERSION_PATTERN.fullmatch(version) is not None
    )


def _release_name(link: str | None) -> str | None:
    """``releases/<name>`` to ``<name>``; None for no link or one pointing elsewhere."""
    if not link:
        return None
    head, _, name = link.rpartition("/")
    return name if head == "releases" and _is_release_name(name) else None
