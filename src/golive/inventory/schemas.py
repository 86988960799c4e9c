"""Request and response shapes of the inventory API (validated at the edge)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from golive.inventory.models import ComponentKind, ConnectionKind
from golive.validation import FromString, LabelKey, LabelValue, LongText, ShortText, Slug

Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=64)]
Address = Annotated[str, Field(min_length=1, max_length=255)]


class StrictModel(BaseModel):
    """Unknown fields and wrong types are refused, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class EnvironmentPolicy(StrictModel):
    """Rules a deployment into the environment must meet; later work adds gates here."""

    requires_change: bool = Field(
        False, description="Deployments need a linked, authorised change request."
    )
    approved_versions_only: bool = Field(
        True, description="Only versions approved in the media library may be deployed."
    )
    requires_window: bool = Field(
        False, description="Waves start only inside an allow (maintenance) window."
    )
    on_window_close: Literal["pause", "wait"] = Field(
        "pause",
        description="When the window closes mid-deployment: finish the wave, then pause "
        "(a person resumes) or wait for the next opening.",
    )


class EnvironmentCreate(StrictModel):
    name: Slug
    description: LongText = ""
    order: Annotated[int, Field(ge=0, le=100_000)] = 0
    policy: EnvironmentPolicy = Field(default_factory=EnvironmentPolicy)


class EnvironmentUpdate(StrictModel):
    description: LongText | None = None
    order: Annotated[int, Field(ge=0, le=100_000)] | None = None
    policy: EnvironmentPolicy | None = None


class TargetCreate(StrictModel):
    name: Slug
    environment: Slug
    description: LongText = ""
    labels: Labels = Field(default_factory=dict)
    connection: Annotated[ConnectionKind, FromString] = ConnectionKind.AGENT
    address: Address | None = None
    organisation: Slug | None = None


class TargetUpdate(StrictModel):
    environment: Slug | None = None
    description: LongText | None = None
    labels: Labels | None = None
    connection: Annotated[ConnectionKind, FromString] | None = None
    address: Address | None = None
    organisation: Slug | None = None


class ComponentCreate(StrictModel):
    name: Slug
    kind: Annotated[ComponentKind, FromString]
    description: LongText = ""
    owner: ShortText | None = None


class ComponentUpdate(StrictModel):
    description: LongText | None = None
    owner: ShortText | None = None
