"""The DML's TUF repository, served over real HTTP and checked by python-tuf's own client."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tuf.api.exceptions import ExpiredMetadataError, LengthOrHashMismatchError, RepositoryError
from tuf.api.metadata import Metadata, Root
from tuf.ngclient import Updater

from golive.api.server import server_config
from golive.errors import GoliveError
from golive.media.storage import LocalBlobStore
from golive.media.tuf_api import router
from golive.media.tuf_repo import PublishedTarget, TufRepository, keep_fresh
from tests.support.live import running

IMMUTABLE = "public, max-age=31536000, immutable"


class RemoteBlobStore(LocalBlobStore):
    """Blobs with no file the server may send directly, as with S3: exercises streaming."""

    def local_path(self, digest: str) -> Path | None:
        return None


def tuf_app(repo: TufRepository, blobs: LocalBlobStore) -> FastAPI:
    app = FastAPI()
    app.state.tuf = repo
    app.state.blobs = blobs

    @app.exception_handler(GoliveError)
    async def _golive_error(_request: Request, exc: GoliveError) -> JSONResponse:
        body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        return JSONResponse(body, status_code=exc.http_status)

    app.include_router(router)
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The real server (golive's uvicorn config) on an ephemeral loopback port."""
    with running(server_config(app, "127.0.0.1", 0, lifespan="off")) as url:
        yield url


class Agent:
    """A TUF client as an agent runs it: trust pinned from 1.root.json, state kept on disk."""

    def __init__(self, folder: Path, url: str, pinned_root: bytes) -> None:
        self.metadata_dir = folder / "metadata"
        self.target_dir = folder / "targets"
        self.metadata_dir.mkdir(parents=True)
        self.target_dir.mkdir()
        (self.metadata_dir / "root.json").write_bytes(pinned_root)
        self.url = url

    def updater(self) -> Updater:
        """A fresh Updater (each may refresh only once) over the same local state."""
        return Updater(
            metadata_dir=str(self.metadata_dir),
            metadata_base_url=f"{self.url}/tuf/metadata/",
            target_base_url=f"{self.url}/tuf/targets/",
            target_dir=str(self.target_dir),
            bootstrap=(self.metadata_dir / "root.json").read_bytes(),
        )

    def fetch(self, target_path: str) -> bytes:
        updater = self.updater()
        updater.refresh()
        info = updater.get_targetinfo(target_path)
        assert info is not None, f"{target_path} is not a published target"
        return Path(updater.download_target(info)).read_bytes()


def put_blob(store: LocalBlobStore, scratch: Path, content: bytes) -> PublishedTarget:
    """Store ``content`` as a DML blob and describe it as a target."""
    source = scratch / f"upload-{hashlib.sha256(content).hexdigest()[:8]}"
    source.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    store.put_file(digest, source)
    return PublishedTarget(length=len(content), sha256=digest, custom={"component": "shop"})


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def repo(tmp_path: Path) -> TufRepository:
    return TufRepository.initialise(tmp_path / "tuf", tmp_path / "keys")


@pytest.fixture
def shop(blobs: LocalBlobStore, tmp_path: Path) -> dict[str, PublishedTarget]:
    return {
        "shop/1.2.0/shop-1.2.0.tar.gz": put_blob(blobs, tmp_path, b"shop 1.2.0 " * 1000),
        "shop/1.2.0/README.md": put_blob(blobs, tmp_path, b"# shop\n"),
    }


def test_initialise_is_idempotent_and_keeps_keys_private(tmp_path: Path) -> None:
    metadata_dir, keys_dir = tmp_path / "tuf", tmp_path / "keys"
    TufRepository.initialise(metadata_dir, keys_dir)
    metadata, keys = files_of(metadata_dir), files_of(keys_dir)

    again = TufRepository.initialise(metadata_dir, keys_dir)

    assert files_of(metadata_dir) == metadata
    assert files_of(keys_dir) == keys
    assert {name for name in metadata if not name.startswith(".")} == {
        "1.root.json",
        "1.targets.json",
        "1.snapshot.json",
        "timestamp.json",
    }
    assert set(keys) == {"root.pem", "targets.pem", "snapshot.pem", "timestamp.pem"}
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for name in keys:
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600
        assert keys[name].startswith(b"-----BEGIN PRIVATE KEY-----")
    root = Metadata[Root].from_bytes(again.root_json())
    assert root.signed.consistent_snapshot is True
    assert root.signed.version == 1
    root.signed.verify_delegate(Root.type, root.signed_bytes, root.signatures)
    assert again.versions() == {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 1}


def test_agent_downloads_published_targets_over_http(
    repo: TufRepository, blobs: LocalBlobStore, shop: dict[str, PublishedTarget], tmp_path: Path
) -> None:
    assert repo.publish(shop) is True

    with serve(tuf_app(repo, blobs)) as url:
        agent = Agent(tmp_path / "agent", url, repo.root_json())
        updater = agent.updater()
        updater.refresh()
        info = updater.get_targetinfo("shop/1.2.0/shop-1.2.0.tar.gz")
        assert info is not None
        assert info.length == shop["shop/1.2.0/shop-1.2.0.tar.gz"].length
        assert info.custom == {"component": "shop"}
        downloaded = Path(updater.download_target(info))
        assert downloaded.read_bytes() == b"shop 1.2.0 " * 1000
        assert agent.fetch("shop/1.2.0/README.md") == b"# shop\n"
        assert agent.updater().get_targetinfo("shop/9.9.9/nothing.tar.gz") is None


def test_targets_stream_from_stores_without_local_files(
    repo: TufRepository, shop: dict[str, PublishedTarget], tmp_path: Path
) -> None:
    repo.publish(shop)
    with serve(tuf_app(repo, RemoteBlobStore(tmp_path / "blobs"))) as url:
        agent = Agent(tmp_path / "agent", url, repo.root_json())
        assert agent.fetch("shop/1.2.0/shop-1.2.0.tar.gz") == b"shop 1.2.0 " * 1000


def test_a_tampered_blob_is_rejected_by_the_agent(
    repo: TufRepository, blobs: LocalBlobStore, shop: dict[str, PublishedTarget], tmp_path: Path
) -> None:
    repo.publish(shop)
    published = shop["shop/1.2.0/shop-1.2.0.tar.gz"]
    blob = blobs.local_path(published.sha256)
    assert blob is not None
    os.chmod(blob, 0o644)
    blob.write_bytes(b"evil 1.2.0 " * 1000)  # same length: only the hash can tell

    with serve(tuf_app(repo, blobs)) as url:
        updater = Agent(tmp_path / "agent", url, repo.root_json()).updater()
        info = updater.get_targetinfo("shop/1.2.0/shop-1.2.0.tar.gz")
        assert info is not None
        with pytest.raises((LengthOrHashMismatchError, RepositoryError)):
            updater.download_target(info)
    assert not any((tmp_path / "agent" / "targets").iterdir())


def test_expired_timestamp_is_refused_until_the_repository_re_signs(
    tmp_path: Path, blobs: LocalBlobStore, shop: dict[str, PublishedTarget]
) -> None:
    repo = TufRepository.initialise(
        tmp_path / "tuf", tmp_path / "keys", timestamp_expiry=timedelta(seconds=2)
    )
    repo.publish(shop)
    time.sleep(3)

    with serve(tuf_app(repo, blobs)) as url:
        agent = Agent(tmp_path / "agent", url, repo.root_json())
        with pytest.raises(ExpiredMetadataError):
            agent.updater().refresh()

        assert repo.refresh() is True
        assert repo.versions()["timestamp"] == 3
        assert agent.fetch("shop/1.2.0/README.md") == b"# shop\n"


def test_refresh_re_signs_only_what_is_near_expiry(repo: TufRepository) -> None:
    assert repo.refresh() is False
    assert repo.versions() == {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 1}

    assert repo.refresh(margin=timedelta(days=2)) is True  # timestamp (1 day) only
    assert repo.versions() == {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 2}

    assert repo.refresh(margin=timedelta(days=8)) is True  # snapshot (7 days) and timestamp
    assert repo.versions() == {"root": 1, "targets": 1, "snapshot": 2, "timestamp": 3}

    assert repo.refresh(margin=timedelta(days=100)) is True  # targets too: a fresh chain
    assert repo.versions() == {"root": 1, "targets": 2, "snapshot": 3, "timestamp": 4}


def test_cache_headers_and_plain_not_found(
    repo: TufRepository, blobs: LocalBlobStore, shop: dict[str, PublishedTarget]
) -> None:
    repo.publish(shop)
    readme = shop["shop/1.2.0/README.md"]
    with serve(tuf_app(repo, blobs)) as url, httpx.Client(base_url=url, timeout=30) as http:
        for name in ("1.root.json", "2.targets.json", "2.snapshot.json"):
            answer = http.get(f"/tuf/metadata/{name}")
            assert answer.status_code == 200, name
            assert answer.headers["cache-control"] == IMMUTABLE
            assert answer.headers["content-type"] == "application/json"
        timestamp = http.get("/tuf/metadata/timestamp.json")
        assert timestamp.status_code == 200
        assert timestamp.headers["cache-control"] == "no-cache"
        unchanged = http.get(
            "/tuf/metadata/timestamp.json", headers={"If-None-Match": timestamp.headers["etag"]}
        )
        assert unchanged.status_code == 304

        missing = http.get("/tuf/metadata/2.root.json")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert "2.root.json" in missing.json()["error"]["message"]
        for refused in (".lock", "root.pem", "..%2Fkeys%2Froot.pem", "0.root.json", "root.json"):
            assert http.get(f"/tuf/metadata/{refused}").status_code == 404, refused

        blob = http.get(f"/tuf/targets/shop/1.2.0/{readme.sha256}.README.md")
        assert blob.status_code == 200
        assert blob.content == b"# shop\n"
        assert blob.headers["cache-control"] == IMMUTABLE
        assert blob.headers["content-type"] == "application/octet-stream"
        other = shop["shop/1.2.0/shop-1.2.0.tar.gz"].sha256
        for unknown in (
            f"shop/1.2.0/{other}.README.md",  # a published blob under another target's name
            "shop/1.2.0/README.md",  # no hash prefix
            f"shop/9.9.9/{readme.sha256}.README.md",
        ):
            answer = http.get(f"/tuf/targets/{unknown}")
            assert answer.status_code == 404, unknown
            assert answer.json()["error"]["code"] == "not_found"


def test_metadata_file_refuses_other_names(repo: TufRepository) -> None:
    assert repo.metadata_file("1.root.json") == repo.metadata_dir / "1.root.json"
    assert repo.metadata_file("timestamp.json") == repo.metadata_dir / "timestamp.json"
    for name in ("2.root.json", "../keys/root.pem", "/etc/passwd", ".lock", "01.root.json"):
        assert repo.metadata_file(name) is None, name


def test_publish_is_skipped_when_unchanged_and_seen_when_changed(
    repo: TufRepository, blobs: LocalBlobStore, shop: dict[str, PublishedTarget], tmp_path: Path
) -> None:
    assert repo.publish(shop) is True
    before = files_of(repo.metadata_dir)
    assert repo.publish(dict(shop)) is False
    assert files_of(repo.metadata_dir) == before

    with serve(tuf_app(repo, blobs)) as url:
        agent = Agent(tmp_path / "agent", url, repo.root_json())
        assert agent.updater().get_targetinfo("shop/1.3.0/shop-1.3.0.tar.gz") is None

        changed = dict(shop)
        changed["shop/1.3.0/shop-1.3.0.tar.gz"] = put_blob(blobs, tmp_path, b"shop 1.3.0")
        del changed["shop/1.2.0/README.md"]
        assert repo.publish(changed) is True
        assert repo.versions() == {"root": 1, "targets": 3, "snapshot": 3, "timestamp": 3}

        assert agent.fetch("shop/1.3.0/shop-1.3.0.tar.gz") == b"shop 1.3.0"
        assert agent.updater().get_targetinfo("shop/1.2.0/README.md") is None


def test_publishers_in_threads_are_serialised(
    repo: TufRepository, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    sets = [{f"app/{n}/app.bin": put_blob(blobs, tmp_path, f"app {n}".encode())} for n in range(8)]
    threads = [threading.Thread(target=repo.publish, args=(targets,)) for targets in sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = repo.versions()
    assert versions["targets"] == versions["snapshot"] == versions["timestamp"] == 9
    assert len(repo.current_targets()) == 1


def _publish_from_another_process(folder: str, n: int) -> bool:
    repo = TufRepository(Path(folder) / "tuf", Path(folder) / "keys")
    content = f"app {n}".encode()
    target = PublishedTarget(len(content), hashlib.sha256(content).hexdigest())
    return repo.publish({f"app/{n}/app.bin": target})


@pytest.mark.slow
def test_publishers_in_processes_are_serialised(repo: TufRepository, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.starmap(
            _publish_from_another_process, [(str(tmp_path), n) for n in range(8)]
        )
    assert results == [True] * 8
    versions = repo.versions()
    assert versions["targets"] == versions["snapshot"] == versions["timestamp"] == 9
    assert sorted(
        name for name in files_of(repo.metadata_dir) if name.endswith(".targets.json")
    ) == sorted(f"{n}.targets.json" for n in range(1, 10))


def test_keep_fresh_re_signs_near_expiry_and_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = TufRepository.initialise(
        tmp_path / "tuf", tmp_path / "keys", timestamp_expiry=timedelta(seconds=4)
    )
    failures = iter([RuntimeError("disk hiccup")])
    real_refresh = repo.refresh

    def flaky_refresh() -> bool:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_refresh()

    repo.refresh = flaky_refresh  # type: ignore[method-assign]

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(keep_fresh(repo, 0.1, stop))
        deadline = time.monotonic() + 10
        while repo.versions()["timestamp"] < 2:
            assert time.monotonic() < deadline, "keep_fresh did not re-sign the timestamp"
            await asyncio.sleep(0.05)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    with caplog.at_level(logging.INFO, logger="golive.tuf"):
        asyncio.run(scenario())

    assert repo.versions()["snapshot"] == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any("re-signing TUF metadata failed" in message for message in messages)
    assert "re-signed TUF timestamp" in messages
    assert messages[-1] == "stopped re-signing TUF metadata"
