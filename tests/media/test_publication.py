"""Approved versions reach agents through TUF from the real golive server; others never do."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tuf.ngclient import Updater

from tests.support.live import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}


def _updater(live: LiveServer, folder: Path) -> Updater:
    metadata = folder / "metadata"
    metadata.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(live.settings_home / "tuf" / "1.root.json", metadata / "root.json")
    downloads = folder / "downloads"
    downloads.mkdir(exist_ok=True)
    return Updater(
        metadata_dir=str(metadata),
        metadata_base_url=f"{live.url}/tuf/metadata/",
        target_base_url=f"{live.url}/tuf/targets/",
        target_dir=str(downloads),
        bootstrap=(metadata / "root.json").read_bytes(),
    )


def test_approve_publishes_and_withdraw_unpublishes(live: LiveServer, tmp_path: Path) -> None:
    data = os.urandom(64_000)
    with live.client() as http:
        http.post("/api/v1/components", json={"name": "agent-app", "kind": "software"})
        http.post(
            "/api/v1/components/agent-app/versions",
            content=data,
            headers=OCTET,
            params={"version": "1.0", "filename": "agent-app-1.0.tar.gz"},
        )
        updater = _updater(live, tmp_path / "before")
        updater.refresh()
        assert updater.get_targetinfo("agent-app/1.0/agent-app-1.0.tar.gz") is None  # quarantined

        assert http.post("/api/v1/components/agent-app/versions/1.0/approve").status_code == 200
        updater = _updater(live, tmp_path / "approved")
        updater.refresh()
        info = updater.get_targetinfo("agent-app/1.0/agent-app-1.0.tar.gz")
        assert info is not None
        assert info.custom == {"component": "agent-app", "version": "1.0"}
        path = updater.download_target(info)
        assert Path(path).read_bytes() == data

        http.post("/api/v1/components/agent-app/versions/1.0/withdraw", json={"reason": "recalled"})
        updater = _updater(live, tmp_path / "withdrawn")
        updater.refresh()
        assert updater.get_targetinfo("agent-app/1.0/agent-app-1.0.tar.gz") is None
        timestamp = http.get("/tuf/metadata/timestamp.json")
    assert timestamp.headers["cache-control"] == "no-cache"
