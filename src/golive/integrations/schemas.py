"""Request shapes of the integrations API (validated at the edge)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from golive.inventory.schemas import StrictModel
from golive.validation import LongText, Slug

# An event filter: every event (*), a subject's events (change.*) or one action
# (deployment.failed). Actions are audit actions, <subject>.<verb>.
EVENT_PATTERN = r"^(\*|[a-z][a-z_]*\.(\*|[a-z][a-z_]*))$"


def _web_address(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password; the signature authenticates")
    return url


Url = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_web_address)]
EventFilter = Annotated[str, StringConstraints(pattern=EVENT_PATTERN, max_length=128)]
EventFilters = Annotated[list[EventFilter], Field(min_length=1, max_length=50)]


def is_event_filter(text: str) -> bool:
    return re.fullmatch(EVENT_PATTERN, text) is not None


class ConnectionCreate(StrictModel):
    name: Slug
    description: LongText = ""


class ConnectionUpdate(StrictModel):
    description: LongText | None = None
    active: bool | None = None


class WebhookCreate(StrictModel):
    name: Slug
    url: Url
    events: EventFilters = Field(
        default_factory=lambda: ["change.*", "deployment.*"],
        description="Audit actions to send: *, change.*, deployment.failed …",
    )
    active: bool = True


class WebhookRotate(StrictModel):
    # Hours the old secret keeps signing deliveries next to the new one (0: it stops
    # at once). At most a week: long enough to redeploy a receiver, short for a leak.
    overlap_hours: Annotated[float, Field(ge=0, le=168)] = 0


class WebhookUpdate(StrictModel):
    url: Url | None = None
    events: EventFilters | None = None
    active: bool | None = None
