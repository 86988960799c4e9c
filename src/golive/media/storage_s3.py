"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), behind ``BlobStore``.

Objects are named ``<prefix>sha256/<2 hex>/<digest>``, the same relative names as
the local folder, so a library can be copied between backends with ``aws s3 sync``.
Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``, profiles, roles).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from golive.errors import NotFoundError
from golive.media.storage import DIGEST, blob_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MIB
MULTIPART_CHUNK = 16 * MIB

# What S3 answers when a conditional write finds the key taken (412), or when
# another conditional write of the same key is in flight (409).
_ALREADY_STORED = {"PreconditionFailed", "ConditionalRequestConflict"}
_MISSING = {"NoSuchKey", "NotFound", "404"}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Blobs as objects ``<prefix>sha256/<2 hex>/<digest>`` in one bucket.

    Args:
        bucket: the bucket's name; it must exist.
        prefix: a folder inside the bucket, so several libraries can share one bucket.
        endpoint_url: the server of an S3-compatible store (MinIO, ...); None for AWS.
        region: the bucket's region; None for boto3's default.
        client: an S3 client to use instead of creating one (the caller then closes it).
    """

    #: Files larger than this go up in parts (see ``put_file`` for what that costs).
    multipart_threshold: int = MULTIPART_THRESHOLD

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._owns_client = client is None
        if client is None:
            # MinIO and most S3-compatible servers answer path-style requests by
            # default; virtual-hosted names need DNS they usually do not have.
            config = Config(s3={"addressing_style": "path"}) if endpoint_url else None
            client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config
            )
        self.client = client

    def close(self) -> None:
        """Release the HTTP connections of a client this store created."""
        if self._owns_client:
            self.client.close()

    def _key(self, digest: str) -> str:
        return f"{self.prefix}{blob_key(digest)}"

    def exists(self, digest: str) -> bool:
        return self.size(digest) is not None

    def size(self, digest: str) -> int | None:
        key = self._key(digest)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING:
                return None
            raise
        return head["ContentLength"]

    def put_file(self, digest: str, source: Path) -> bool:
        key = self._key(digest)
        if source.stat().st_size > self.multipart_threshold:
            stored = self._put_in_parts(key, source)
        else:
            stored = self._put_whole(key, source)
        source.unlink()
        return stored

    def _put_whole(self, key: str, source: Path) -> bool:
        try:
            with source.open("rb") as body:
                # If-None-Match: * makes the write conditional on the key being free
                # (S3 since 2024-08, MinIO, moto): no code path overwrites a blob.
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
        except ClientError as error:
            if _error_code(error) in _ALREADY_STORED:
                return False
            raise
        return True

    def _put_in_parts(self, key: str, source: Path) -> bool:
        # boto3's upload_file does not pass IfNoneMatch on to CompleteMultipartUpload
        # (s3transfer's ALLOWED_UPLOAD_ARGS lacks it), so large files are checked first.
        # Race: two writers of the same new digest may both pass the check; the later
        # one then replaces the object. Both hold the same bytes (a blob is named by its
        # sha256), so the stored content does not change.
        if self._exists_key(key):
            return False
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold, multipart_chunksize=MULTIPART_CHUNK
        )
        self.client.upload_file(str(source), self.bucket, key, Config=config)
        return True

    def _exists_key(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING:
                return False
            raise
        return True

    def open(self, digest: str) -> BinaryIO:
        key = self._key(digest)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise NotFoundError(f"blob {digest} is missing from the media library") from None
            raise
        # botocore's StreamingBody is an io.IOBase with read(), iteration and close().
        return cast(BinaryIO, response["Body"])

    def local_path(self, digest: str) -> Path | None:
        self._key(digest)
        return None

    def delete(self, digest: str) -> None:
        # DeleteObject succeeds on a missing key, like the local store's delete.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(digest))

    def digests(self) -> Iterator[str]:
        base = f"{self.prefix}sha256/"
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for entry in page.get("Contents", []):
                key = entry.get("Key", "")
                name = key.rsplit("/", 1)[-1]
                if DIGEST.fullmatch(name) and key == f"{base}{name[:2]}/{name}":
                    yield name


__all__ = ["S3BlobStore"]
