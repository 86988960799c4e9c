"""Request shapes of the change control API (validated at the edge)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from golive.auth.roles import Role
from golive.changes.rules import ChangeType, Decision, Risk
from golive.inventory.schemas import Labels, StrictModel
from golive.validation import FromString, LongText, Slug

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ExternalRef = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Names = Annotated[list[Slug], Field(max_length=1000)]
Quorum = Annotated[int, Field(ge=1, le=50)]
ValidHours = Annotated[int, Field(ge=1, le=24 * 366)]
Strategies = Annotated[
    list[Literal["big_bang", "phased", "continuous", "pull"]], Field(max_length=4)
]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not a known IANA time zone (e.g. Europe/London)") from exc
    return name


TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_zone)]


class PlannedWindow(StrictModel):
    """When the work is planned: a local time in ``tz`` when no offset is given."""

    start: Annotated[datetime, FromString]
    end: Annotated[datetime, FromString]
    tz: TimeZone = "UTC"

    @model_validator(mode="after")
    def _in_utc(self) -> PlannedWindow:
        zone = ZoneInfo(self.tz)
        self.start = _utc(self.start, zone)
        self.end = _utc(self.end, zone)
        if self.end <= self.start:
            raise ValueError("a planned window must end after it starts")
        return self

    def stored(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "tz": self.tz}


def _utc(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


class ChangeCreate(StrictModel):
    type: Annotated[ChangeType, FromString] = ChangeType.NORMAL
    title: Title
    description: LongText = ""
    risk: Annotated[Risk, FromString] = Risk.MEDIUM
    impact: LongText = ""
    environments: Annotated[list[Slug], Field(min_length=1, max_length=50)]
    components: Names = Field(default_factory=list)
    targets: Names = Field(default_factory=list)
    target_labels: Labels = Field(default_factory=dict)
    planned_windows: Annotated[list[PlannedWindow], Field(max_length=50)] = Field(
        default_factory=list
    )
    backout_plan: LongText = ""
    freeze_override_reason: LongText | None = Field(
        None, description="Emergency only: why the work may run inside freeze windows."
    )
    external_ref: ExternalRef | None = None
    model: Slug | None = Field(None, description="The standard change model (standard only).")
    submit: bool = Field(False, description="Submit at once instead of keeping a draft.")


class ChangeUpdate(StrictModel):
    title: Title | None = None
    description: LongText | None = None
    risk: Annotated[Risk, FromString] | None = None
    impact: LongText | None = None
    environments: Annotated[list[Slug], Field(min_length=1, max_length=50)] | None = None
    components: Names | None = None
    targets: Names | None = None
    target_labels: Labels | None = None
    planned_windows: Annotated[list[PlannedWindow], Field(max_length=50)] | None = None
    backout_plan: LongText | None = None
    external_ref: ExternalRef | None = None


class DecisionIn(StrictModel):
    decision: Annotated[Decision, FromString]
    reason: LongText = ""


class Reasoned(StrictModel):
    reason: LongText = ""


class Outcome(StrictModel):
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "succeeded"
    reason: LongText = ""


class AuthorityCreate(StrictModel):
    name: Slug
    environment: Slug | None = Field(None, description="None: every environment without one.")
    change_type: Annotated[ChangeType, FromString]
    roles: Annotated[list[Annotated[Role, FromString]], Field(max_length=20)] = Field(
        default_factory=list
    )
    principals: Names = Field(default_factory=list)
    quorum: Quorum = 1
    approval_valid_hours: ValidHours | None = None

    @model_validator(mode="after")
    def _someone(self) -> AuthorityCreate:
        if not self.roles and not self.principals:
            raise ValueError("an authority needs at least one role or principal who may decide")
        return self


class AuthorityUpdate(StrictModel):
    roles: Annotated[list[Annotated[Role, FromString]], Field(max_length=20)] | None = None
    principals: Names | None = None
    quorum: Quorum | None = None
    approval_valid_hours: ValidHours | None = None


class ModelCreate(StrictModel):
    name: Slug
    description: LongText = ""
    environments: Annotated[list[Slug], Field(min_length=1, max_length=50)]
    components: Annotated[list[Slug], Field(min_length=1, max_length=1000)]
    targets: Names = Field(default_factory=list)
    target_labels: Labels = Field(default_factory=dict)
    max_targets: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    strategies: Strategies = Field(default_factory=list)


class ModelUpdate(StrictModel):
    description: LongText | None = None
    environments: Annotated[list[Slug], Field(min_length=1, max_length=50)] | None = None
    components: Annotated[list[Slug], Field(min_length=1, max_length=1000)] | None = None
    targets: Names | None = None
    target_labels: Labels | None = None
    max_targets: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    strategies: Strategies | None = None
    active: bool | None = None


LocalTime = Annotated[str, StringConstraints(max_length=32)]


class WindowScopeIn(StrictModel):
    environments: Names = Field(default_factory=list)
    components: Names = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)


class WindowCreate(StrictModel):
    """A window; times are local wall-clock times in ``tz`` (no offset)."""

    name: Slug
    kind: Literal["allow", "deny"]
    tz: TimeZone = "UTC"
    start: Annotated[str, StringConstraints(max_length=32)]
    end: Annotated[str, StringConstraints(max_length=32)] | None = None
    duration: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        None, description="2h, 1h30m … (give this or end)."
    )
    rrule: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        None, description="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=SA;BYHOUR=22."
    )
    exdates: Annotated[
        list[Annotated[str, StringConstraints(max_length=32)]], Field(max_length=500)
    ] = Field(default_factory=list)
    scope: WindowScopeIn = Field(default_factory=WindowScopeIn)
    description: LongText = ""

    def definition(self) -> dict[str, object]:
        shown = self.model_dump(exclude={"description"})
        return shown
