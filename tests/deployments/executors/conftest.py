"""A real OpenSSH server for the SSH executor's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.sshd import SshServer, running_sshd, sshd_binary


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """One throwaway sshd on a loopback port for the whole run."""
    binary = sshd_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("OpenSSH's server (/usr/sbin/sshd) is missing; CI needs it")
        pytest.skip("OpenSSH's server (/usr/sbin/sshd) is not installed (scripts/ensure-sshd)")
    with running_sshd(binary) as server:
        yield server
