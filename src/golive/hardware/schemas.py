"""Request shapes of the hardware store API (validated at the edge)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from golive.inventory.schemas import StrictModel
from golive.validation import LabelKey, LongText, Slug

# Serials may hold '/', so each '/'-separated part starts with a letter or digit:
# no empty, '.' or '..' parts that a URL would collapse.
SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*$"
SERIAL_RULE = (
    "letters, digits, '-', '_', '.' or '/', 1-128 characters, "
    "each '/'-separated part starting with a letter or digit"
)
ASSET_TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
ASSET_TAG_RULE = (
    "letters, digits, '-', '_' or '.', 1-64 characters, starting with a letter or digit"
)


def _matching(pattern: str, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if re.fullmatch(pattern, value) is None:
            raise ValueError(f"must be {rule}")
        return value

    return AfterValidator(check)


Serial = Annotated[
    str, StringConstraints(min_length=1, max_length=128), _matching(SERIAL_PATTERN, SERIAL_RULE)
]
AssetTag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    _matching(ASSET_TAG_PATTERN, ASSET_TAG_RULE),
]
Location = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
DetailValue = Annotated[str, StringConstraints(max_length=1000)]
# Specifications and build records: firmware_version=2.1.4, bios=1.9, raid=raid1 ...
Details = Annotated[dict[LabelKey, DetailValue], Field(max_length=64)]
MinimumStock = Annotated[int, Field(ge=0, le=1_000_000)]
Reason = LongText


class HardwareModelCreate(StrictModel):
    name: Slug
    vendor: Name
    model: Name
    specification: Details = Field(default_factory=dict)
    minimum_stock: MinimumStock = 0
    description: LongText = ""


class HardwareModelUpdate(StrictModel):
    vendor: Name | None = None
    model: Name | None = None
    specification: Details | None = None
    minimum_stock: MinimumStock | None = None
    description: LongText | None = None


class HardwareItemCreate(StrictModel):
    serial: Serial
    model: Slug
    store_location: Location
    asset_tag: AssetTag | None = None
    build: Details = Field(default_factory=dict)
    reason: Reason = ""


class HardwareItemUpdate(StrictModel):
    """What may change on a held item; ``build`` replaces the whole recorded build."""

    build: Details | None = None
    store_location: Location | None = None
    asset_tag: AssetTag | None = None
    reason: Reason = ""


class Reservation(StrictModel):
    target: Slug
    reason: Reason = ""


class StateChange(StrictModel):
    reason: Reason = ""
