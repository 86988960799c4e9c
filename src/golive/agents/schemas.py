"""Request shapes of the agent protocol and its admin endpoints (validated at the edge)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from golive.agents.rules import AssignmentState
from golive.inventory.schemas import Labels, StrictModel
from golive.validation import FromString, LongText, Slug

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
FactValue = str | int | float | bool | None


class EnrollmentTokenCreate(StrictModel):
    environment: Slug
    labels: Labels = Field(default_factory=dict)
    expires_at: Annotated[AwareDatetime, FromString] | None = None
    organisation: Slug | None = None


class Registration(StrictModel):
    name: Slug
    public_key: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    facts: Annotated[
        dict[Annotated[str, StringConstraints(max_length=63)], FactValue], Field(max_length=64)
    ] = Field(default_factory=dict)


class Report(StrictModel):
    assignment_id: int
    state: Annotated[AssignmentState, FromString]
    at: Annotated[AwareDatetime, FromString] | None = None
    reason: LongText | None = None
    # The agent cuts hook output to 64 KiB; the server cuts it again, the body limit applies.
    output: str | None = None


class InstalledEntry(StrictModel):
    component: Name
    version: Name
    digest: Digest
    release: Annotated[str, StringConstraints(max_length=255)] | None = None


class UnauthorisedEntry(StrictModel):
    component: Name
    current: Annotated[str, StringConstraints(max_length=4096)]
    reason: LongText | None = None


class Inventory(StrictModel):
    installed: Annotated[list[InstalledEntry], Field(max_length=10_000)] = Field(
        default_factory=list
    )
    unauthorised: Annotated[list[UnauthorisedEntry], Field(max_length=10_000)] = Field(
        default_factory=list
    )


class ReportBatch(StrictModel):
    """An agent's outbox in one call: reports in the order made, then its inventory."""

    reports: Annotated[list[Report], Field(max_length=1000)] = Field(default_factory=list)
    inventory: Inventory | None = None
    # The ETag of the last desired state the agent received. When nothing but these
    # reports changed it since, the answer carries the new ETag for the next check-in.
    etag: Annotated[str, StringConstraints(max_length=128)] | None = None
