"""A throwaway OpenSSH server from the machine's /usr/sbin/sshd, for the tests.

``sshd`` comes from Debian's openssh-server package (scripts/ensure-sshd). The
server lives in a temporary folder with its own host key, authorized keys and
configuration, listens on a free loopback port only, accepts public keys only,
and is stopped and removed when the tests end. sshd must be started by its
absolute path, and its privilege-separation folder /run/sshd must exist.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.postgres import free_port

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")


def sshd_binary() -> Path | None:
    """/usr/sbin/sshd and ssh-keygen when both are installed, else None."""
    if SSHD.is_file() and os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen"):
        return SSHD
    return None


def generate_key(path: Path, comment: str) -> str:
    """An ed25519 key pair at ``path`` (and ``path.pub``); returns the public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


class SshServer:
    """One running sshd: where it listens, its host key, and a client key it accepts."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="golive-sshd-"))
        self.port = free_port()
        self.address = "127.0.0.1"
        self.username = pwd.getpwuid(os.getuid()).pw_name
        self.config = self.root / "sshd_config"
        self.log = self.root / "sshd.log"
        self.host_key = self.root / "host_ed25519"
        self.client_key = self.root / "client_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.remote = self.root / "remote"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def known_hosts(self) -> str:
        """The known_hosts line a client needs for this server."""
        key = self.host_key.with_suffix(".pub").read_text().split()
        return f"[{self.address}]:{self.port} {key[0]} {key[1]}\n"

    def start(self) -> None:
        generate_key(self.host_key, "golive-test-host")
        self.authorized_keys.write_text(generate_key(self.client_key, "golive-test-client") + "\n")
        self.remote.mkdir()
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {self.address}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "UseDNS no",
                    "PrintMotd no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "MaxStartups 100",
                    "LogLevel VERBOSE",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        log = self.log.open("wb")
        try:
            self.process = subprocess.Popen(
                [str(self.binary), "-D", "-e", "-f", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.process.returncode}):\n{self.log_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"sshd did not listen on {self.port} within {timeout} s:\n{self.log_text()}"
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_sshd(binary: Path) -> Iterator[SshServer]:
    server = SshServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()
