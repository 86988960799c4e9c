"""One contract for every BlobStore: the local folder and S3 (a real moto server)."""

from __future__ import annotations

import hashlib
import itertools
import random
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from golive.errors import InvalidInputError, NotFoundError
from golive.media.storage import BlobStore, LocalBlobStore, blob_key, open_blob_store
from golive.media.storage_s3 import S3BlobStore
from golive.settings import Settings
from tests.media.conftest import S3Server

_prefixes = itertools.count()
MIB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server: S3Server = request.getfixturevalue("s3_server")
    # A fresh prefix per test keeps tests apart on the one bucket.
    return S3BlobStore(server.bucket, f"t{next(_prefixes)}", client=server.client)


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def finished_file(folder: Path, data: bytes, digest: str | None = None) -> tuple[str, Path]:
    """A hashed upload as ingest leaves it; ``digest`` overrides the true one."""
    digest = digest or hashlib.sha256(data).hexdigest()
    path = folder / f"{digest}.{random.getrandbits(32):08x}.part"
    path.write_bytes(data)
    return digest, path


def read_all(store: BlobStore, digest: str) -> bytes:
    with store.open(digest) as stream:
        return stream.read()


def test_put_then_exists_size_and_open_round_trip(store: BlobStore, uploads: Path) -> None:
    data = random.randbytes(3 * MIB + 17)
    digest, source = finished_file(uploads, data)

    assert store.put_file(digest, source) is True

    assert not source.exists()
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    assert read_all(store, digest) == data


def test_put_never_overwrites_a_stored_blob(store: BlobStore, uploads: Path) -> None:
    original = random.randbytes(64 * 1024)
    digest, first = finished_file(uploads, original)
    assert store.put_file(digest, first) is True

    # Other bytes under the same name: a buggy or hostile writer must not replace the blob.
    _, second = finished_file(uploads, b"not the original bytes", digest=digest)
    assert store.put_file(digest, second) is False

    assert not second.exists()
    assert store.size(digest) == len(original)
    assert read_all(store, digest) == original


def test_missing_blob(store: BlobStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not store.exists(digest)
    assert store.size(digest) is None
    with pytest.raises(NotFoundError, match=digest):
        store.open(digest)


def test_delete(store: BlobStore, uploads: Path) -> None:
    digest, source = finished_file(uploads, b"retired release")
    store.put_file(digest, source)

    store.delete(digest)

    assert not store.exists(digest)
    assert list(store.digests()) == []
    store.delete(digest)  # deleting a missing blob is not an error


def test_digests_lists_what_was_stored(store: BlobStore, uploads: Path) -> None:
    assert list(store.digests()) == []
    stored = []
    for number in range(5):
        digest, source = finished_file(uploads, f"blob {number}".encode())
        store.put_file(digest, source)
        stored.append(digest)

    assert list(store.digests()) == sorted(stored)


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "abc",
        "A" * 64,
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "../" + "0" * 61,
        "0" * 64 + "\n",
    ],
)
def test_invalid_digest_is_refused(store: BlobStore, uploads: Path, digest: str) -> None:
    _, source = finished_file(uploads, b"anything", digest="0" * 64)
    calls: list[Callable[[], object]] = [
        lambda: store.exists(digest),
        lambda: store.size(digest),
        lambda: store.put_file(digest, source),
        lambda: store.open(digest),
        lambda: store.local_path(digest),
        lambda: store.delete(digest),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            call()
    assert source.exists()  # nothing was consumed


def test_local_blob_is_a_read_only_file(tmp_path: Path, uploads: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest, source = finished_file(uploads, b"signed media")

    store.put_file(digest, source)

    path = store.local_path(digest)
    assert path == tmp_path / "blobs" / blob_key(digest)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_s3_store_has_no_local_path(s3_server: S3Server, uploads: Path) -> None:
    store = S3BlobStore(s3_server.bucket, "nolocal", client=s3_server.client)
    digest, source = finished_file(uploads, b"remote only")
    store.put_file(digest, source)

    assert store.local_path(digest) is None


def test_s3_prefixes_keep_libraries_apart(s3_server: S3Server, uploads: Path) -> None:
    staging = S3BlobStore(s3_server.bucket, "isolation/staging", client=s3_server.client)
    production = S3BlobStore(s3_server.bucket, "isolation/production/", client=s3_server.client)
    digest_a, source_a = finished_file(uploads, b"only in staging")
    digest_b, source_b = finished_file(uploads, b"only in production")
    digest_c, source_c = finished_file(uploads, b"in both")
    _, source_c2 = finished_file(uploads, b"in both")

    staging.put_file(digest_a, source_a)
    production.put_file(digest_b, source_b)
    assert staging.put_file(digest_c, source_c) is True
    assert production.put_file(digest_c, source_c2) is True  # another library, not a duplicate

    assert list(staging.digests()) == sorted([digest_a, digest_c])
    assert list(production.digests()) == sorted([digest_b, digest_c])
    assert not production.exists(digest_a)
    assert not staging.exists(digest_b)
    key = s3_server.client.head_object(
        Bucket=s3_server.bucket, Key=f"isolation/staging/{blob_key(digest_a)}"
    )
    assert key["ContentLength"] == len(b"only in staging")

    staging.delete(digest_c)
    assert production.exists(digest_c)


def test_s3_large_file_goes_up_in_parts_without_overwriting(
    s3_server: S3Server, uploads: Path
) -> None:
    store = S3BlobStore(s3_server.bucket, "multipart", client=s3_server.client)
    store.multipart_threshold = 6 * MIB  # small, so the test stays quick
    data = random.randbytes(20 * MIB)
    digest, source = finished_file(uploads, data)

    assert store.put_file(digest, source) is True
    head = s3_server.client.head_object(
        Bucket=s3_server.bucket, Key=f"multipart/{blob_key(digest)}"
    )
    assert "-" in head["ETag"]  # a multipart upload's ETag is "<md5 of md5s>-<parts>"

    _, again = finished_file(uploads, random.randbytes(7 * MIB), digest=digest)
    assert store.put_file(digest, again) is False
    assert not again.exists()
    assert read_all(store, digest) == data


@pytest.fixture
def s3_environment(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """boto3's default credential chain pointed at dummies, as a deployment's would be."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return s3_server


def test_open_blob_store_local_by_default(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="sqlite://")

    store = open_blob_store(settings)

    assert isinstance(store, LocalBlobStore)
    assert store.root == settings.blobs_dir


def test_open_blob_store_s3(s3_environment: S3Server, tmp_path: Path, uploads: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url="sqlite://",
        blob_backend="s3",
        s3_bucket=s3_environment.bucket,
        s3_prefix="factory",
        s3_endpoint_url=s3_environment.endpoint_url,
        s3_region="us-east-1",
    )

    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    try:
        assert store.prefix == "factory/"
        digest, source = finished_file(uploads, b"through the factory")
        assert store.put_file(digest, source) is True
        assert read_all(store, digest) == b"through the factory"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("backend", "bucket", "message"),
    [
        ("s3", "", "needs a bucket"),
        ("ftp", "", "unknown blob backend 'ftp'"),
        ("S3", "media", "unknown blob backend 'S3'"),
    ],
)
def test_open_blob_store_refuses_a_bad_configuration(
    tmp_path: Path, backend: str, bucket: str, message: str
) -> None:
    settings = Settings(
        home=tmp_path, database_url="sqlite://", blob_backend=backend, s3_bucket=bucket
    )

    with pytest.raises(InvalidInputError, match=message):
        open_blob_store(settings)
