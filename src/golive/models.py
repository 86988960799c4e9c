"""Every table, gathered so Alembic and the tests see one metadata."""

from __future__ import annotations

from golive.audit.chain import AuditEvent, AuditHead
from golive.auth.models import ApiToken, Principal
from golive.db import Base
from golive.inventory.models import Component, Environment, Target

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Component",
    "Environment",
    "Principal",
    "Target",
    "metadata",
]
