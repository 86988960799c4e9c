"""The SSH executor tests' estate, set up over the API: the edge environment, SSH
targets on the test sshd (the server's key authorised there) and edge-app 1.0."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx

from tests.support.sshd import SshServer

OCTET = {"Content-Type": "application/octet-stream"}


def tarball(text: str) -> bytes:
    """A .tar.gz holding one file, app.txt, with ``text`` in it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = text.encode()
        info = tarfile.TarInfo("app.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ssh_target(
    http: httpx.Client, sshd: SshServer, name: str, remote: Path, known_hosts: str | None = None
) -> None:
    """Target ``name`` in edge (made if missing), reached over SSH on the test sshd."""
    http.post("/api/v1/environments", json={"name": "edge"})
    target = {"name": name, "environment": "edge", "connection": "ssh", "address": "127.0.0.1"}
    created = http.post("/api/v1/targets", json=target)
    assert created.status_code == 201, created.text
    saved = http.put(
        f"/api/v1/targets/{name}/ssh",
        json={
            "username": sshd.username,
            "port": sshd.port,
            "known_hosts": known_hosts or sshd.known_hosts,
            "remote_root": str(remote),
        },
    )
    assert saved.status_code == 200, saved.text
    key = http.get("/api/v1/ssh/public-key").json()["public_key"]
    with sshd.authorized_keys.open("a") as handle:
        handle.write(key + "\n")


def edge_app(http: httpx.Client) -> None:
    """edge-app 1.0 in the media library, approved."""
    http.post("/api/v1/components", json={"name": "edge-app", "kind": "software"})
    added = http.post(
        "/api/v1/components/edge-app/versions",
        content=tarball("v1"),
        headers=OCTET,
        params={"version": "1.0", "filename": "edge-app-1.0.tar.gz"},
    )
    assert added.status_code == 201, added.text
    assert http.post("/api/v1/components/edge-app/versions/1.0/approve").status_code == 200
