"""Download an assignment's artifact through TUF, trusting only the root pinned at
enrollment: the signed metadata must name the target with the assignment's sha256 and size.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path

import httpx
from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    DownloadLengthMismatchError,
    RepositoryError,
)

# tuf re-exports these names without __all__, which strict mypy flags (as media/tuf_repo.py).
from tuf.api.metadata import TargetFile  # type: ignore[attr-defined]
from tuf.ngclient import Updater  # type: ignore[attr-defined]
from tuf.ngclient.fetcher import FetcherInterface

from golive.agent.errors import AssignmentFailure, ServerUnavailable
from golive.agent.files import crash_point

CHUNK_BYTES = 256 * 1024
DEFAULT_MAX_ARTIFACT_BYTES = 8 * 1024**3


class HttpxFetcher(FetcherInterface):
    """python-tuf's network interface over httpx (the agent's one HTTP stack)."""

    def __init__(self, target_base_url: str, timeout: float = 30) -> None:
        self.target_base_url = target_base_url
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            request = self._http.build_request("GET", url)
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as error:
            raise DownloadError(f"failed to download {url}: {error}") from error
        if response.status_code != 200:
            response.close()
            raise DownloadHTTPError(f"{url} answered {response.status_code}", response.status_code)
        return self._chunks(url, response)

    def _chunks(self, url: str, response: httpx.Response) -> Iterator[bytes]:
        is_target = url.startswith(self.target_base_url)
        try:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                yield chunk
                if is_target:
                    crash_point("download")  # tests: killed with part of the artifact read
        except httpx.HTTPError as error:
            raise DownloadError(f"failed to download {url}: {error}") from error
        finally:
            response.close()


def download_artifact(
    *,
    server: str,
    metadata_dir: Path,
    pinned_root: bytes,
    tuf_target: str,
    digest: str,
    size: int,
    destination: Path,
    max_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
) -> Path:
    """Refresh TUF metadata (a fresh Updater each time), check the signed target against the
    assignment and download it into ``destination``.

    Raises:
        AssignmentFailure: unsigned, tampered, unpublished, or not the assignment's bytes.
        ServerUnavailable: the network failed; retry later.
    """
    if size > max_bytes:
        raise AssignmentFailure(
            f"{tuf_target} is {size} bytes, over the agent's limit of {max_bytes} bytes"
        )
    metadata_dir.mkdir(parents=True, exist_ok=True)
    destination.mkdir(parents=True, exist_ok=True)
    targets_url = f"{server}/tuf/targets/"
    fetcher = HttpxFetcher(targets_url)
    try:
        updater = Updater(
            metadata_dir=str(metadata_dir),
            metadata_base_url=f"{server}/tuf/metadata/",
            target_dir=str(destination),
            target_base_url=targets_url,
            fetcher=fetcher,
            bootstrap=pinned_root,
        )
        info = _signed_target(updater, tuf_target)
        signed = info.hashes.get("sha256")
        if signed != digest:
            raise AssignmentFailure(
                f"the signed sha256 of {tuf_target} ({signed}) differs from the assignment's "
                f"digest ({digest})"
            )
        if info.length != size:
            raise AssignmentFailure(
                f"the signed length of {tuf_target} ({info.length} bytes) differs from the "
                f"assignment's size ({size} bytes)"
            )
        path = destination / posixpath.basename(tuf_target)
        try:
            updater.download_target(info, filepath=str(path))
        except (RepositoryError, DownloadLengthMismatchError) as error:
            raise AssignmentFailure(
                f"the downloaded {tuf_target} does not match its signed length and sha256 "
                f"(refused: {error})"
            ) from None
        except DownloadHTTPError as error:
            if error.status_code in (404, 410):
                raise AssignmentFailure(
                    f"{tuf_target} is no longer served by the repository ({error})"
                ) from None
            raise ServerUnavailable(f"downloading {tuf_target} failed: {error}") from None
        except DownloadError as error:
            raise ServerUnavailable(f"downloading {tuf_target} failed: {error}") from None
    finally:
        fetcher.close()
    check_file(path, digest, size)
    return path


def _signed_target(updater: Updater, tuf_target: str) -> TargetFile:
    try:
        updater.refresh()
        info = updater.get_targetinfo(tuf_target)
    except RepositoryError as error:
        raise AssignmentFailure(f"the TUF metadata did not verify: {error}") from None
    except DownloadHTTPError as error:
        if error.status_code < 500:
            raise AssignmentFailure(f"the TUF metadata could not be fetched: {error}") from None
        raise ServerUnavailable(f"the TUF metadata could not be fetched: {error}") from None
    except DownloadError as error:
        raise ServerUnavailable(f"the TUF metadata could not be fetched: {error}") from None
    if info is None:
        raise AssignmentFailure(f"{tuf_target} is not a signed target of the media library")
    return info


def check_file(path: Path, digest: str, size: int) -> None:
    """Re-check a downloaded file before it is used (it sat on disk in between)."""
    hasher = hashlib.sha256()
    length = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            hasher.update(chunk)
            length += len(chunk)
    if length != size or hasher.hexdigest() != digest:
        raise AssignmentFailure(
            f"{path.name} on disk is {length} bytes with sha256 {hasher.hexdigest()}, "
            f"not the assignment's {size} bytes with sha256 {digest}"
        )


def is_intact(path: Path, digest: str, size: int) -> bool:
    try:
        check_file(path, digest, size)
    except (AssignmentFailure, OSError):
        return False
    return os.path.isfile(path)
