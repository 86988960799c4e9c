"""The CLI's HTTP client: where the server is, which token to send, and what failures mean."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from golive.errors import GoliveError
from golive.files import write_private

DEFAULT_URL = "http://127.0.0.1:8000"


class ServerRefused(GoliveError):
    """The server answered with an error; its message is what the user sees."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.code = code


class Unreachable(GoliveError):
    code = "unreachable"


def config_path() -> Path:
    explicit = os.environ.get("GOLIVE_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "golive" / "config.json"


def read_config() -> dict[str, str]:
    path = config_path()
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GoliveError(
            f"cannot read the client config {path}: {exc}; fix or delete it"
        ) from None
    return {key: str(value) for key, value in loaded.items() if key in ("url", "token")}


def write_config(url: str, token: str) -> Path:
    """Save url and token for later commands (mode 0600: the token is a secret)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({"url": url, "token": token}).encode())
    return path


class ApiClient:
    """Thin wrapper over httpx that turns error answers into ServerRefused."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = 30.0
    ) -> None:
        config = read_config()
        self.url = (url or os.environ.get("GOLIVE_URL") or config.get("url") or DEFAULT_URL).rstrip(
            "/"
        )
        self.token = token or os.environ.get("GOLIVE_TOKEN") or config.get("token")
        self._headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with httpx.Client(
                base_url=self.url, headers=self._headers, timeout=self._timeout
            ) as http:
                response = http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"cannot reach the golive server at {self.url} ({exc.__class__.__name__}); "
                "start it with `golive up` or set GOLIVE_URL"
            ) from None
        if response.status_code >= 400:
            raise _refusal(response, has_token=bool(self.token))
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {key: value for key, value in params.items() if value is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {}).json()

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body).json()

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def paged(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list endpoint."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            answer = self.get(path, **params, limit=500, offset=offset)
            items.extend(answer["items"])
            if answer.get("next_offset") is None:
                return items
            offset = answer["next_offset"]


def _refusal(response: httpx.Response, has_token: bool) -> ServerRefused:
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = (
            "http_error",
            f"HTTP {response.status_code}: {response.text[:200]}",
            {},
        )
    if response.status_code == 401 and not has_token:
        message += " (set GOLIVE_TOKEN or run `golive login`)"
    return ServerRefused(response.status_code, code, message, details)
