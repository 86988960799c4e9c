"""Shapes of names and labels shared by every concept (pure rules)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
LABEL_KEY_PATTERN = r"^[a-z0-9](?:[a-z0-9._/-]{0,61}[a-z0-9])?$"
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$|^$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]

# Models are strict (no coercion), but enums and timestamps arrive as JSON strings.
FromString = Field(strict=False)

SLUG_RULE = (
    "lower-case letters, digits and '-', 1-63 characters, "
    "starting and ending with a letter or digit"
)


LABEL_VALUE_RULE = (
    "letters, digits, '-', '_' or '.', at most 63, starting and ending with a letter or digit"
)
PATTERN_RULES = {
    SLUG_PATTERN: SLUG_RULE,
    LABEL_KEY_PATTERN: "a label key: lower-case letters, digits, '-', '.', '_' or '/', at most 63",
    LABEL_VALUE_PATTERN: LABEL_VALUE_RULE,
}


def is_slug(value: str) -> bool:
    return re.fullmatch(SLUG_PATTERN, value) is not None


def parse_label(text: str) -> tuple[str, str]:
    """``key=value`` to a pair; raises ValueError with the rule when malformed."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"label {text!r} is not key=value")
    if re.fullmatch(LABEL_KEY_PATTERN, key) is None:
        raise ValueError(f"label key {key!r} must be {PATTERN_RULES[LABEL_KEY_PATTERN]}")
    if re.fullmatch(LABEL_VALUE_PATTERN, value) is None:
        raise ValueError(f"label value {value!r} must be {LABEL_VALUE_RULE}")
    return key, value
