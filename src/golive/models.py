"""Every table, gathered so Alembic and the tests see one metadata."""

from __future__ import annotations

from golive.audit.chain import AuditEvent, AuditHead
from golive.auth.models import ApiToken, Principal
from golive.db import Base
from golive.hardware.models import HardwareItem, HardwareModel
from golive.inventory.models import Component, Environment, Target
from golive.media.models import Attachment, Blob, Version

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "AuditHead",
    "Blob",
    "Component",
    "Environment",
    "HardwareItem",
    "HardwareModel",
    "Principal",
    "Target",
    "Version",
    "metadata",
]
