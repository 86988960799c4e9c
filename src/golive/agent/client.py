"""The server's agent endpoints (docs/agent-protocol.md), as the agent calls them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from golive import __version__
from golive.agent.errors import (
    AssignmentFailure,
    CredentialRefused,
    ServerUnavailable,
    TargetRevoked,
)

log = logging.getLogger("golive.agent")
USER_AGENT = f"golive-agent/{__version__}"
# The longest a server holds a waiting check-in (docs/agent-protocol.md).
MAX_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Desired:
    """A 200 answer to the check-in."""

    etag: str | None
    poll_interval_seconds: float | None
    send_inventory: bool
    assignments: list[dict[str, Any]]


@dataclass(frozen=True)
class Delivered:
    """The answer to the outbox in one call."""

    results: list[dict[str, Any]]
    etag: str | None  # the desired state's ETag after the reports, if only they moved it


class ServerClient:
    """One HTTP client for the agent API; errors become the agent's exceptions."""

    def __init__(self, server: str, credential: str | None = None, timeout: float = 30) -> None:
        self.server = server.rstrip("/")
        self.credential = credential
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.server, timeout=timeout, headers={"User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self._http.close()

    def register(
        self, enroll_token: str, name: str, public_key_pem: str, facts: dict[str, str]
    ) -> dict[str, Any]:
        response = self._send(
            "POST",
            "/api/v1/agent/register",
            token=enroll_token,
            json={"name": name, "public_key": public_key_pem, "facts": facts},
            credential_kind="enrollment token",
        )
        if response.status_code not in (200, 201):
            raise CredentialRefused(f"the server refused to enroll {name!r}: {_message(response)}")
        body: dict[str, Any] = response.json()
        return body

    def desired(self, etag: str | None, inventory_digest: str, wait: float = 0) -> Desired | None:
        """The desired state, or None when unchanged (304).

        With ``wait`` the server holds an unchanged check-in up to that many seconds
        and answers as soon as something changes (docs/agent-protocol.md).
        """
        headers = {"X-Golive-Inventory": inventory_digest}
        if etag:
            headers["If-None-Match"] = etag
        seconds = min(int(wait), MAX_WAIT_SECONDS)
        response = self._send(
            "GET",
            "/api/v1/agent/desired",
            headers=headers,
            params={"wait": seconds} if seconds > 0 else None,
            # The answer may take the whole wait: read for longer than that.
            read_timeout=seconds + self.timeout if seconds > 0 else None,
        )
        if response.status_code == 304:
            return None
        if response.status_code != 200:
            # Not this agent's fault to fix: retry with backoff like an unreachable server.
            raise ServerUnavailable(f"the desired-state check-in failed: {_message(response)}")
        body = response.json()
        interval = body.get("poll_interval_seconds")
        return Desired(
            etag=body.get("etag") or response.headers.get("etag"),
            poll_interval_seconds=float(interval) if interval else None,
            send_inventory=bool(body.get("send_inventory")),
            assignments=list(body.get("assignments") or []),
        )

    def reports(self, reports: list[dict[str, Any]], etag: str | None = None) -> Delivered | None:
        """Deliver queued reports in one call, in order: one result each, in order (a
        result with ``error`` is a report the server will never take). None when the server
        refuses the call as a whole (a server without the call, or a malformed report):
        the caller then delivers them one at a time. Raises ServerUnavailable to retry.

        ``etag``: the desired state's ETag the agent holds; the answer's ETag is then the
        one after these reports, when nothing else moved it (else None).
        """
        body: dict[str, Any] = {"reports": reports}
        if etag:
            body["etag"] = etag
        response = self._send("POST", "/api/v1/agent/reports", json=body)
        if response.status_code != 200:
            log.info("reports not taken together (%s); sending them one by one", _message(response))
            return None
        answer = response.json()
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(reports):
            raise ServerUnavailable("the server's answer to the reports had the wrong results")
        after = answer.get("etag")
        return Delivered(
            results=[r if isinstance(r, dict) else {} for r in results],
            etag=after if isinstance(after, str) and after else None,
        )

    def report(self, report: dict[str, Any]) -> bool:
        """Deliver one report. True when recorded; False when the server will never take it
        (409: the assignment is already terminal or the move is refused; 404: it is gone;
        other 4xx: the report itself is refused). Raises ServerUnavailable to retry later.
        """
        response = self._send("POST", "/api/v1/agent/report", json=report)
        if response.status_code == 200:
            return True
        log.warning("report refused: %s", _message(response))
        return False

    def inventory(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Record the inventory; None (logged) when the server refuses it."""
        response = self._send("POST", "/api/v1/agent/inventory", json=body)
        if response.status_code != 200:
            log.warning("the inventory was refused: %s", _message(response))
            return None
        answer: dict[str, Any] = response.json()
        return answer

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        read_timeout: float | None = None,
        credential_kind: str = "agent credential",
    ) -> httpx.Response:
        secret = token if token is not None else self.credential
        all_headers = dict(headers or {})
        if secret:
            all_headers["Authorization"] = f"Bearer {secret}"
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        try:
            response = self._http.request(
                method, path, json=json, headers=all_headers, params=params, timeout=timeout
            )
        except httpx.TransportError as error:
            raise ServerUnavailable(f"{self.server} did not answer ({error})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ServerUnavailable(
                f"{self.server} answered {response.status_code} to {method} {path}"
            )
        if response.status_code == 401:
            if _code(response) == "target_revoked":
                raise TargetRevoked(
                    "the server revoked this target's credential; golive-agent stops "
                    "(enroll again with a new token to resume)"
                )
            raise CredentialRefused(
                f"the server refused the {credential_kind}: {_message(response)}"
            )
        return response


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _code(response: httpx.Response) -> str | None:
    code = _error(response).get("code")
    return str(code) if code is not None else None


def _message(response: httpx.Response) -> str:
    message = _error(response).get("message")
    return f"{response.status_code} {message or response.reason_phrase}"


__all__ = ["AssignmentFailure", "Desired", "ServerClient"]
