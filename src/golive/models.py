"""Every table, gathered so Alembic and the tests see one metadata."""

from __future__ import annotations

from golive.agents.models import (
    AgentCredential,
    AgentState,
    Assignment,
    AssignmentEvent,
    EnrollmentToken,
    Installed,
    InstallRecord,
)
from golive.audit.chain import AuditEvent, AuditHead
from golive.auth.models import ApiToken, Principal
from golive.changes.models import (
    ChangeApproval,
    ChangeAuthority,
    ChangeModel,
    ChangeRequest,
    WindowRecord,
)
from golive.db import Base
from golive.deployments.executors.ssh_endpoints import SshEndpoint
from golive.deployments.models import Deployment, DeploymentEvent, DeploymentVersion
from golive.hardware.models import HardwareItem, HardwareModel
from golive.integrations.models import ItsmConnection, Webhook, WebhookCursor, WebhookDelivery
from golive.inventory.models import Component, Environment, Target
from golive.media.models import Attachment, Blob, Version
from golive.workorders.models import WorkOrder

metadata = Base.metadata

__all__ = [
    "AgentCredential",
    "AgentState",
    "ApiToken",
    "Assignment",
    "AssignmentEvent",
    "Attachment",
    "AuditEvent",
    "AuditHead",
    "Blob",
    "ChangeApproval",
    "ChangeAuthority",
    "ChangeModel",
    "ChangeRequest",
    "Component",
    "Deployment",
    "DeploymentEvent",
    "DeploymentVersion",
    "EnrollmentToken",
    "Environment",
    "HardwareItem",
    "HardwareModel",
    "InstallRecord",
    "Installed",
    "ItsmConnection",
    "Principal",
    "SshEndpoint",
    "Target",
    "Version",
    "Webhook",
    "WebhookCursor",
    "WebhookDelivery",
    "WindowRecord",
    "WorkOrder",
    "metadata",
]
