"""The SSH executor against a real OpenSSH server (tests/support/sshd.py).

sshd runs on this machine, so the "remote" root is a local temporary folder
the tests can inspect directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from golive.deployments.executors.ssh import (
    OUTPUT_LIMIT,
    SshJob,
    SshResult,
    SshTarget,
    connect_options,
    run_ssh_job,
    validate_job,
)
from golive.errors import InvalidInputError
from tests.support.postgres import free_port
from tests.support.sshd import SshServer

# A root with a space and a quote: every remote argument must be quoted.
ROOT_NAME = "remote root 'quoted'"


def make_tar_gz(path: Path, files: Mapping[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Remote:
    """Builds jobs for one component under a per-test remote root, and inspects it."""

    def __init__(self, sshd: SshServer, tmp_path: Path, component: str = "shop") -> None:
        self.sshd = sshd
        self.tmp_path = tmp_path
        self.root = tmp_path / ROOT_NAME
        self.component = component
        self.target = SshTarget(
            address=sshd.address,
            port=sshd.port,
            username=sshd.username,
            client_key=sshd.client_key,
            known_hosts=sshd.known_hosts,
        )
        self.progress: list[str] = []
        self._ids = iter(range(1, 1000))

    @property
    def component_dir(self) -> Path:
        return self.root / "components" / self.component

    def current(self) -> str | None:
        link = self.component_dir / "current"
        return os.readlink(link) if link.is_symlink() else None

    def releases(self) -> list[str]:
        folder = self.component_dir / "releases"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def job(
        self,
        version: str,
        files: Mapping[str, str] | None = None,
        *,
        filename: str | None = None,
        blob: Path | None = None,
        **changes: Any,
    ) -> SshJob:
        if blob is None:
            content = files if files is not None else {"app.txt": f"shop {version}\n"}
            blob = make_tar_gz(self.tmp_path / f"shop-{version}.tar.gz", content)
        job = SshJob(
            assignment_id=next(self._ids),
            action="install",
            component=self.component,
            version=version,
            digest=sha256(blob),
            filename=filename or blob.name,
            blob_path=blob,
            root=str(self.root),
        )
        return replace(job, **changes)

    def run(self, job: SshJob, target: SshTarget | None = None) -> SshResult:
        self.progress = []
        return asyncio.run(run_ssh_job(target or self.target, job, self.progress.append))


@pytest.fixture
def remote(sshd: SshServer, tmp_path: Path) -> Remote:
    return Remote(sshd, tmp_path)


def test_installs_a_tar_gz_into_a_complete_release_and_switches_current(remote: Remote) -> None:
    job = remote.job("1.0.0", {"app.txt": "hello\n", "bin/run.sh": "#!/bin/sh\necho run\n"})

    result = remote.run(job)

    assert result.state == "succeeded", result.reason
    assert result.release == job.release == f"1.0.0-{job.digest[:8]}"
    assert remote.current() == f"releases/{job.release}"
    release = remote.component_dir / "current"
    assert (release / "app.txt").read_text() == "hello\n"
    assert os.access(release / "bin" / "run.sh", os.X_OK)
    assert remote.releases() == [job.release]
    # No upload, partial folder or temporary link left behind.
    assert sorted(p.name for p in remote.component_dir.iterdir()) == ["current", "releases"]
    assert remote.progress == ["downloading", "installing", "verifying"]


def test_upgrade_switches_to_the_new_release_and_keeps_the_old(remote: Remote) -> None:
    first = remote.job("1.0.0")
    assert remote.run(first).state == "succeeded"
    marker = remote.tmp_path / "previous.txt"
    second = remote.job(
        "1.1.0", hooks={"post_install": f'echo "$GOLIVE_PREVIOUS_RELEASE_DIR" > "{marker}"'}
    )

    result = remote.run(second)

    assert result.state == "succeeded", result.reason
    assert remote.current() == f"releases/{second.release}"
    assert (remote.component_dir / "current" / "app.txt").read_text() == "shop 1.1.0\n"
    assert remote.releases() == sorted([first.release, second.release])
    previous = remote.component_dir / "releases" / first.release
    assert marker.read_text().strip() == str(previous)


def test_retrying_an_installed_assignment_changes_nothing(remote: Remote) -> None:
    job = remote.job("1.0.0")
    assert remote.run(job).state == "succeeded"

    result = remote.run(job)

    assert (result.state, result.reason) == ("succeeded", "already installed")
    assert remote.progress == ["verifying"]
    assert remote.current() == f"releases/{job.release}"


def test_failed_health_check_rolls_back_to_the_previous_release(remote: Remote) -> None:
    first = remote.job("1.0.0")
    assert remote.run(first).state == "succeeded"
    rolled = remote.tmp_path / "rolled.txt"
    second = remote.job(
        "2.0.0",
        hooks={
            "health_check": "echo 'not healthy'; exit 3",
            "pre_rollback": f'echo "$GOLIVE_VERSION -> $GOLIVE_PREVIOUS_RELEASE_DIR" > "{rolled}"',
        },
    )

    result = remote.run(second)

    assert result.state == "rolled_back"
    assert result.reason is not None
    assert "health_check hook failed (exit 3)" in result.reason
    assert result.release == first.release
    assert remote.current() == f"releases/{first.release}"
    assert (remote.component_dir / "current" / "app.txt").read_text() == "shop 1.0.0\n"
    assert result.output is not None
    assert "--- health_check (exit 3) ---\nnot healthy" in result.output
    previous = remote.component_dir / "releases" / first.release
    assert rolled.read_text().strip() == f"2.0.0 -> {previous}"


def test_failed_first_install_leaves_no_current(remote: Remote) -> None:
    job = remote.job("1.0.0", hooks={"post_install": "exit 1"})

    result = remote.run(job)

    assert result.state == "rolled_back"
    assert result.reason is not None
    assert "post_install hook failed (exit 1)" in result.reason
    assert remote.current() is None
    assert result.release is None


def test_failed_pre_install_does_not_switch(remote: Remote) -> None:
    first = remote.job("1.0.0")
    assert remote.run(first).state == "succeeded"

    result = remote.run(remote.job("2.0.0", hooks={"pre_install": "echo no; exit 2"}))

    assert result.state == "failed"
    assert result.reason == "pre_install hook failed (exit 2); current was not switched"
    assert remote.current() == f"releases/{first.release}"
    assert remote.releases() == [first.release]


def test_hook_timeout_counts_as_failure(remote: Remote) -> None:
    job = remote.job("1.0.0", hooks={"health_check": "sleep 30"}, hook_timeout_seconds=1)

    result = remote.run(job)

    assert result.state == "rolled_back"
    assert result.reason is not None
    assert "health_check hook timed out after 1 s" in result.reason


def test_removal_takes_current_and_the_releases_away(remote: Remote) -> None:
    installed = remote.job("1.0.0")
    assert remote.run(installed).state == "succeeded"
    removal = replace(installed, action="remove", blob_path=None)

    result = remote.run(removal)

    assert result.state == "succeeded", result.reason
    assert not remote.component_dir.exists()
    assert remote.run(removal) == SshResult("succeeded", "not installed")


def test_tampered_blob_is_refused_on_the_host_before_any_switch(remote: Remote) -> None:
    first = remote.job("1.0.0")
    assert remote.run(first).state == "succeeded"
    job = remote.job("2.0.0")
    # The bytes change after the DML digest was taken: the host must notice.
    make_tar_gz(Path(str(job.blob_path)), {"app.txt": "evil\n"})

    result = remote.run(job)

    assert result.state == "failed"
    assert result.reason is not None
    assert result.reason.startswith("digest mismatch on the host: received sha256 ")
    assert job.digest in result.reason
    assert remote.current() == f"releases/{first.release}"
    assert remote.releases() == [first.release]
    assert sorted(p.name for p in remote.component_dir.iterdir()) == ["current", "releases"]
    assert "installing" not in remote.progress


def test_escaping_archive_is_refused_without_connecting(remote: Remote) -> None:
    blob = make_tar_gz(remote.tmp_path / "evil.tar.gz", {"../../etc/evil": "x"})
    job = remote.job("6.6.6", blob=blob)
    # Nothing listens there: had the executor connected, the reason would say so.
    nowhere = replace(remote.target, port=free_port())

    result = remote.run(job, nowhere)

    assert result.state == "failed"
    assert result.reason == (
        "refused before sending: archive entry '../../etc/evil' climbs out with '..'"
    )
    assert remote.progress == []
    assert not remote.root.exists()


def test_wrong_host_key_is_refused(remote: Remote) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    target = replace(remote.target, known_hosts=f"[127.0.0.1]:{remote.sshd.port} {impostor}")

    result = remote.run(remote.job("1.0.0"), target)

    assert result.state == "failed"
    assert result.reason is not None
    assert result.reason.startswith(
        f"host key of [127.0.0.1]:{remote.sshd.port} does not match the target's known_hosts"
    )
    assert not remote.root.exists()


def test_bare_key_line_applies_to_the_target(remote: Remote) -> None:
    key = remote.sshd.known_hosts.split(maxsplit=1)[1]
    target = replace(remote.target, known_hosts=f"# the host key\n{key}")

    assert remote.run(remote.job("1.0.0"), target).state == "succeeded"


def test_host_keys_are_always_verified(remote: Remote) -> None:
    target = replace(remote.target, known_hosts="")

    with pytest.raises(InvalidInputError, match="host keys are always verified"):
        remote.run(remote.job("1.0.0"), target)


def test_unauthorised_client_key_is_refused(remote: Remote) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    target = replace(remote.target, client_key=stranger)

    result = remote.run(remote.job("1.0.0"), target)

    assert result.state == "failed"
    assert result.reason is not None
    assert result.reason.startswith(f"authentication as {remote.sshd.username}@[127.0.0.1]:")


class _PasswordRecorder(asyncssh.SSHServer):
    """An SSH server that offers password and keyboard-interactive login and records tries."""

    def __init__(self, tries: list[str]) -> None:
        self.tries = tries

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self.tries.append(f"password:{password}")
        return False

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        self.tries.append("kbdint")
        return "", "", "", [("Password: ", False)]


async def _tries_against_password_server(target: SshTarget, job: SshJob) -> list[str]:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    tries: list[str] = []
    server = await asyncssh.create_server(
        lambda: _PasswordRecorder(tries), "127.0.0.1", 0, server_host_keys=[host_key]
    )
    try:
        port = server.sockets[0].getsockname()[1]
        known = f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}"
        result = await run_ssh_job(replace(target, port=port, known_hosts=known), job)
        assert result.state == "failed"
        assert result.reason is not None
        assert "authentication" in result.reason
    finally:
        server.close()
        await server.wait_closed()
    return tries


def test_password_auth_is_not_attempted_unless_configured(remote: Remote) -> None:
    job = remote.job("1.0.0")
    keyless = replace(remote.target, client_key=None)

    assert asyncio.run(_tries_against_password_server(keyless, job)) == []
    with_password = replace(keyless, password="s3cret")
    assert asyncio.run(_tries_against_password_server(with_password, job)) == ["password:s3cret"]
    options = connect_options(keyless)
    assert (options["password_auth"], options["kbdint_auth"], options["agent_path"]) == (
        False,
        False,
        None,
    )


def test_hooks_see_golive_env_run_in_the_release_and_their_output_is_captured(
    remote: Remote,
) -> None:
    job = remote.job(
        "1.0.0+build.7",
        hooks={
            "pre_install": "env | grep '^GOLIVE_' | sort",
            "post_install": 'pwd; echo "it\'s quoted: $1 `echo ok`" >&2',
            "health_check": "test -f app.txt && echo healthy",
        },
    )

    result = remote.run(job)

    assert result.state == "succeeded", result.reason
    release_dir = remote.component_dir / "releases" / job.release
    assert result.output == (
        "--- pre_install (exit 0) ---\n"
        f"GOLIVE_ACTION=install\n"
        f"GOLIVE_ASSIGNMENT_ID={job.assignment_id}\n"
        "GOLIVE_COMPONENT=shop\n"
        f"GOLIVE_DIGEST={job.digest}\n"
        "GOLIVE_PREVIOUS_RELEASE_DIR=\n"
        f"GOLIVE_RELEASE_DIR={release_dir}\n"
        "GOLIVE_VERSION=1.0.0+build.7\n"
        "--- post_install (exit 0) ---\n"
        f"{release_dir}\n"
        "it's quoted:  ok\n"
        "--- health_check (exit 0) ---\n"
        "healthy\n"
    )


def test_hook_output_is_truncated_to_64_kib_keeping_the_end(remote: Remote) -> None:
    job = remote.job(
        "1.0.0", hooks={"health_check": "head -c 200000 /dev/zero | tr '\\0' x; echo END"}
    )

    result = remote.run(job)

    assert result.state == "succeeded", result.reason
    assert result.output is not None
    assert len(result.output.encode()) <= OUTPUT_LIMIT
    assert result.output.startswith("[… ")
    assert result.output.endswith("xxxEND\n")


def test_keeps_the_last_n_releases(remote: Remote) -> None:
    jobs = [remote.job(f"1.{minor}.0", keep_releases=2) for minor in range(4)]
    for job in jobs:
        assert remote.run(job).state == "succeeded"

    assert remote.releases() == sorted([jobs[2].release, jobs[3].release])
    assert remote.current() == f"releases/{jobs[3].release}"


def test_a_rollback_keeps_the_release_it_returns_to(remote: Remote) -> None:
    old = remote.job("1.0.0", keep_releases=1)
    assert remote.run(old).state == "succeeded"

    failing = remote.job("2.0.0", keep_releases=1, hooks={"health_check": "false"})
    assert remote.run(failing).state == "rolled_back"

    assert remote.releases() == [old.release]
    assert (remote.component_dir / "current" / "app.txt").read_text() == "shop 1.0.0\n"


def test_installs_a_zip_and_a_single_file(remote: Remote) -> None:
    archive = remote.tmp_path / "docs-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("site/index.html", "<h1>docs</h1>")
    assert remote.run(remote.job("1.0", blob=archive)).state == "succeeded"
    assert (remote.component_dir / "current" / "site" / "index.html").exists()

    single = remote.tmp_path / "tool.bin"
    single.write_bytes(b"\x7fELF binary")
    assert remote.run(remote.job("2.0", blob=single)).state == "succeeded"
    assert (remote.component_dir / "current" / "tool.bin").read_bytes() == b"\x7fELF binary"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"component": "Shop/../x"}, "component 'Shop/../x'"),
        ({"version": "../1"}, "version '../1'"),
        ({"digest": "abc"}, "digest 'abc'"),
        ({"root": "relative/root"}, "remote root 'relative/root'"),
        ({"root": "/opt/../etc"}, "remote root '/opt/../etc'"),
        ({"hooks": {"post_instal": "true"}}, "unknown hook(s) post_instal"),
        ({"keep_releases": 0}, "keep_releases must be at least 1"),
        ({"hook_timeout_seconds": 0}, "hook_timeout_seconds must be positive"),
        ({"filename": "../x.tar.gz"}, "file name '../x.tar.gz'"),
        ({"action": "upgrade"}, "action 'upgrade'"),
    ],
)
def test_malformed_jobs_are_refused(remote: Remote, changes: dict[str, Any], message: str) -> None:
    job = replace(remote.job("1.0.0"), **changes)

    with pytest.raises(InvalidInputError) as raised:
        validate_job(job)

    assert message in str(raised.value)
