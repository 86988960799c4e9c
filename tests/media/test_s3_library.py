"""The whole library path with blobs in S3-compatible storage (moto's real server)."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from tuf.ngclient import Updater

from golive.db import Database
from golive.settings import Settings
from tests.media.conftest import S3Server
from tests.support.live import principals_for_every_role, serve

OCTET = {"Content-Type": "application/octet-stream"}


def test_add_approve_verify_and_download_through_s3(
    s3_server: S3Server,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    prefix = f"library-{os.getpid()}-{tmp_path.name}/"
    s3_settings = replace(
        settings,
        blob_backend="s3",
        s3_bucket=s3_server.bucket,
        s3_prefix=prefix,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region="us-east-1",
    )
    tokens = principals_for_every_role(db)
    data = os.urandom(3 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    with serve(s3_settings, db) as live:
        live.tokens = tokens
        with live.client() as http:
            http.post("/api/v1/components", json={"name": "s3app", "kind": "software"})
            added = http.post(
                "/api/v1/components/s3app/versions",
                content=data,
                headers=OCTET,
                params={"version": "1.0", "filename": "s3app.bin"},
            )
            assert added.status_code == 201, added.text
            assert added.json()["digest"] == digest
            assert http.post("/api/v1/components/s3app/versions/1.0/approve").status_code == 200
            assert http.get("/api/v1/components/s3app/versions/1.0/content").content == data
            verified = http.post("/api/v1/media/verify", json={}).json()
            assert verified["corrupt"] == 0

            key = f"{prefix}sha256/{digest[:2]}/{digest}"
            stored = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
            assert stored == data
            assert not (live.settings_home / "blobs").exists()

            metadata = tmp_path / "client" / "metadata"
            metadata.mkdir(parents=True)
            shutil.copyfile(live.settings_home / "tuf" / "1.root.json", metadata / "root.json")
            updater = Updater(
                metadata_dir=str(metadata),
                metadata_base_url=f"{live.url}/tuf/metadata/",
                target_base_url=f"{live.url}/tuf/targets/",
                target_dir=str(tmp_path / "client"),
                bootstrap=(metadata / "root.json").read_bytes(),
            )
            updater.refresh()
            info = updater.get_targetinfo("s3app/1.0/s3app.bin")
            assert info is not None
            assert Path(updater.download_target(info)).read_bytes() == data

            s3_server.client.delete_object(Bucket=s3_server.bucket, Key=key)
            verified = http.post("/api/v1/media/verify", json={}).json()
            assert verified["corrupt"] == 1
            assert "missing" in verified["findings"][0]["problem"]
