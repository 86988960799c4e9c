"""The media library over the real HTTP server: add, immutability, status, verify, prune."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from golive.media import service
from golive.media.models import Version
from tests.conftest import Cli
from tests.support.live import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}


def _component(live: LiveServer, name: str = "shop") -> None:
    with live.client() as http:
        http.post("/api/v1/components", json={"name": name, "kind": "software"})
        http.post("/api/v1/environments", json={"name": "production"})
        http.post(
            "/api/v1/environments",
            json={"name": "dev", "policy": {"approved_versions_only": False}},
        )


def _add(
    live: LiveServer,
    version: str,
    data: bytes,
    component: str = "shop",
    role: str = "release_manager",
) -> tuple[int, dict[str, object]]:
    with live.client(role) as http:
        answer = http.post(
            f"/api/v1/components/{component}/versions",
            content=data,
            params={"version": version, "source": "https://ci.example/build/7"},
            headers=OCTET,
        )
    return answer.status_code, answer.json()


def test_add_records_digest_size_and_provenance(live: LiveServer) -> None:
    _component(live)
    data = os.urandom(300_000)
    status, added = _add(live, "1.0.0", data)
    assert status == 201, added
    assert added["digest"] == hashlib.sha256(data).hexdigest()
    assert added["size"] == len(data)
    assert added["status"] == "quarantined"
    assert added["added_by"] == "release-manager"
    assert added["source"] == "https://ci.example/build/7"
    assert added["filename"] == "shop-1.0.0"
    blob = live.settings_home / "blobs" / "sha256" / added["digest"][:2] / added["digest"]
    assert blob.read_bytes() == data
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0
    assert oct(blob.stat().st_mode & 0o777) == "0o444"
    with live.client() as http:
        content = http.get("/api/v1/components/shop/versions/1.0.0/content")
    assert content.content == data


def test_a_new_version_is_shown_as_it_is_read_back_and_audited(live: LiveServer) -> None:
    # A new version is recorded with Core statements and shown from the values it
    # inserted; what is read back later, and what the audit trail holds, must match.
    _component(live)
    status, added = _add(live, "1.1.0", b"core path")
    assert status == 201
    with live.client() as http:
        shown = http.get("/api/v1/components/shop/versions/1.1.0").json()
        events = http.get("/api/v1/audit/events", params={"subject_id": "shop@1.1.0"}).json()
    assert added == shown
    [event] = [e for e in events["items"] if e["action"] == "version.add"]
    assert event["after"] == {k: v for k, v in shown.items() if k != "attachments"}


def test_same_version_other_bytes_is_refused_with_both_digests(live: LiveServer) -> None:
    _component(live)
    first = b"first build"
    status, added = _add(live, "2.0.0", first)
    assert status == 201
    again_status, again = _add(live, "2.0.0", first)
    assert again_status == 200
    assert again["digest"] == added["digest"]

    other = b"a different build"
    status, refused = _add(live, "2.0.0", other)
    assert status == 409
    message = refused["error"]["message"]
    assert hashlib.sha256(first).hexdigest() in message
    assert hashlib.sha256(other).hexdigest() in message
    blob = live.settings_home / "blobs" / "sha256" / added["digest"][:2] / str(added["digest"])
    assert blob.read_bytes() == first
    with live.client("auditor") as http:
        events = http.get("/api/v1/audit/events", params={"action": "version.add"}).json()["items"]
    assert len(events) == 1


def test_blobs_are_shared_across_components(live: LiveServer) -> None:
    _component(live, "shop")
    _component(live, "shop-docs")
    data = b"same bytes, two components"
    assert _add(live, "1", data, "shop")[0] == 201
    assert _add(live, "1", data, "shop-docs")[0] == 201
    stored = list((live.settings_home / "blobs" / "sha256").rglob("*"))
    assert len([p for p in stored if p.is_file()]) == 1


def test_approval_flow_and_the_deployable_rule(live: LiveServer) -> None:
    _component(live)
    _add(live, "3.0.0", b"v3")
    base = "/api/v1/components/shop/versions/3.0.0"
    with live.client("deployer") as http:
        assert http.post(f"{base}/approve").status_code == 403
        answer = http.get(
            "/api/v1/media/deployable",
            params={"component": "shop", "version": "3.0.0", "environment": "production"},
        )
        assert answer.json()["deployable"] is False
        assert "quarantined" in answer.json()["reason"]
        dev = http.get(
            "/api/v1/media/deployable",
            params={"component": "shop", "version": "3.0.0", "environment": "dev"},
        )
        assert dev.json()["deployable"] is True
    with live.client("release_manager") as http:
        approved = http.post(f"{base}/approve", json={"reason": "tested in staging"})
        assert approved.json()["status"] == "approved"
        assert approved.json()["status_changed_by"] == "release-manager"
        assert http.post(f"{base}/withdraw", json={}).status_code == 422
        withdrawn = http.post(f"{base}/withdraw", json={"reason": "CVE-2026-0001"})
        assert withdrawn.json()["status"] == "withdrawn"
        again = http.post(f"{base}/approve")
        assert again.status_code == 409
        assert "allowed next: none" in again.json()["error"]["message"]
        answer = http.get(
            "/api/v1/media/deployable",
            params={"component": "shop", "version": "3.0.0", "environment": "dev"},
        )
        assert answer.json()["deployable"] is False
    with live.client("auditor") as http:
        actions = [
            e["action"]
            for e in http.get("/api/v1/audit/events", params={"subject_id": "shop@3.0.0"}).json()[
                "items"
            ]
        ]
    assert actions == ["version.add", "version.approve", "version.withdraw"]


def test_flipping_one_byte_makes_the_version_corrupt(live: LiveServer, cli: Cli) -> None:
    _component(live)
    data = os.urandom(100_000)
    _, added = _add(live, "4.0.0", data)
    _add(live, "4.0.1", b"untouched")
    with live.client() as http:
        http.post("/api/v1/components/shop/versions/4.0.0/approve")
    cli.use(live.url, live.tokens["auditor"])
    code, out, _ = cli("media", "verify", "--all")
    assert code == 0, out
    assert "0 corrupt" in out

    blob = live.settings_home / "blobs" / "sha256" / str(added["digest"])[:2] / str(added["digest"])
    blob.chmod(0o644)
    with blob.open("r+b") as handle:
        handle.seek(50_000)
        byte = handle.read(1)
        handle.seek(50_000)
        handle.write(bytes([byte[0] ^ 0x01]))

    code, out, err = cli("media", "verify", "--all")
    assert code == 1
    assert "CORRUPT shop@4.0.0" in err
    assert "1 corrupt" in out
    with live.client() as http:
        shown = http.get("/api/v1/components/shop/versions/4.0.0").json()
        assert shown["status"] == "corrupt"
        assert http.get("/api/v1/components/shop/versions/4.0.1").json()["status"] == "quarantined"
        answer = http.get(
            "/api/v1/media/deployable",
            params={"component": "shop", "version": "4.0.0", "environment": "dev"},
        )
        assert answer.json()["deployable"] is False
        assert "corrupt" in answer.json()["reason"]

    blob.unlink()
    code, _, err = cli("media", "verify", "shop@4.0.0")
    assert code == 1
    assert "missing" in err


@pytest.fixture
def pinned_versions() -> Iterator[set[str]]:
    """Stand in for later work's rule: these versions are installed on some target."""
    pinned: set[str] = set()

    def installed_somewhere(_session: Session, version: Version) -> str | None:
        return "installed on web-01" if version.ref in pinned else None

    service.IN_USE_RULES.append(installed_somewhere)
    yield pinned
    service.IN_USE_RULES.remove(installed_somewhere)


def test_prune_keeps_new_in_use_and_shared(live: LiveServer, pinned_versions: set[str]) -> None:
    _component(live)
    _component(live, "other")
    for number in range(1, 6):
        _add(live, f"1.{number}", f"build {number}".encode())
    _add(live, "9", b"build 2", component="other")  # shares 1.2's blob
    pinned_versions.add("shop@1.1")
    with live.client("deployment_manager") as http:
        preview = http.post("/api/v1/media/prune", json={"keep": 2, "dry_run": True}).json()
        assert preview["removed"] == ["shop@1.3", "shop@1.2"]
        assert preview["kept_in_use"] == {"shop@1.1": ["installed on web-01"]}
        assert http.get("/api/v1/components/shop/versions/1.2").json()["status"] == "quarantined"

        result = http.post("/api/v1/media/prune", json={"keep": 2}).json()
        assert result["removed"] == ["shop@1.3", "shop@1.2"]
        assert result["blobs_deleted"] == [hashlib.sha256(b"build 3").hexdigest()]
        statuses = {
            v["version"]: v["status"]
            for v in http.get("/api/v1/components/shop/versions").json()["items"]
        }
    assert statuses == {
        "1.5": "quarantined",
        "1.4": "quarantined",
        "1.3": "pruned",
        "1.2": "pruned",
        "1.1": "quarantined",
    }
    blobs = live.settings_home / "blobs" / "sha256"
    shared = hashlib.sha256(b"build 2").hexdigest()
    assert (blobs / shared[:2] / shared).exists()
    gone = hashlib.sha256(b"build 3").hexdigest()
    assert not (blobs / gone[:2] / gone).exists()


def test_attachments_and_bad_input(live: LiveServer) -> None:
    _component(live)
    _add(live, "5.0", b"five")
    with live.client() as http:
        attached = http.post(
            "/api/v1/components/shop/versions/5.0/attachments",
            params={"filename": "sbom.spdx.json"},
            content=b'{"spdx": 1}',
            headers=OCTET,
        )
        assert attached.status_code == 201, attached.text
        assert (
            attached.json()["attachments"][0]["digest"]
            == hashlib.sha256(b'{"spdx": 1}').hexdigest()
        )
        cases = [
            ("/api/v1/components/ghost/versions", {"version": "1"}, 404),
            ("/api/v1/components/shop/versions", {"version": "../etc"}, 422),
            ("/api/v1/components/shop/versions", {"version": "1", "filename": "a/b"}, 422),
            ("/api/v1/components/shop/versions", {}, 422),
            ("/api/v1/components/shop/versions/nope/attachments", {"filename": "x"}, 404),
        ]
        for path, params, expected in cases:
            answer = http.post(path, params=params, content=b"x", headers=OCTET)
            assert answer.status_code == expected, (path, params, answer.text)
        listed = http.get("/api/v1/components/shop/versions").json()["items"]
    assert [v["version"] for v in listed] == ["5.0"]


def test_cli_add_approve_and_show(live: LiveServer, cli: Cli, tmp_path: Path) -> None:
    _component(live)
    artefact = tmp_path / "shop-6.0.tar.gz"
    artefact.write_bytes(os.urandom(2_000_000))
    sbom = tmp_path / "sbom.json"
    sbom.write_text("{}")
    cli.use(live.url, live.tokens["release_manager"])
    code, out, err = cli(
        "media",
        "add",
        str(artefact),
        "--component",
        "shop",
        "--version",
        "6.0",
        "--notes",
        "Spring release",
        "--attach",
        str(sbom),
    )
    assert code == 0, err
    assert hashlib.sha256(artefact.read_bytes()).hexdigest() in out
    assert "1 attachment(s)" in out
    assert cli("media", "approve", "shop@6.0")[0] == 0
    code, out, _ = cli("media", "list", "shop")
    assert "approved" in out
    code, out, _ = cli("media", "deployable", "shop@6.0", "--env", "production")
    assert code == 0
    assert cli("media", "show", "shop@nope")[0] == 1
    assert cli("media", "show", "no-at-sign")[0] == 2
