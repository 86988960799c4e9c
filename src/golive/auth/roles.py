"""Roles and the permissions each one grants (pure data, no I/O)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DEPLOYMENT_MANAGER = "deployment_manager"
    DEPLOYER = "deployer"
    CHANGE_AUTHORITY = "change_authority"
    RELEASE_MANAGER = "release_manager"
    SUPPLIER = "supplier"
    AUDITOR = "auditor"
    END_USER = "end_user"
    AGENT = "agent"


class Permission(StrEnum):
    INVENTORY_READ = "inventory:read"
    ENVIRONMENTS_WRITE = "environments:write"
    TARGETS_WRITE = "targets:write"
    COMPONENTS_WRITE = "components:write"
    PRINCIPALS_MANAGE = "principals:manage"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    MEDIA_READ = "media:read"
    MEDIA_ADD = "media:add"
    MEDIA_APPROVE = "media:approve"
    MEDIA_VERIFY = "media:verify"
    MEDIA_PRUNE = "media:prune"
    HARDWARE_READ = "hardware:read"
    HARDWARE_WRITE = "hardware:write"
    WORK_ORDERS_READ = "work_orders:read"
    WORK_ORDERS_MANAGE = "work_orders:manage"
    DEPLOYMENTS_READ = "deployments:read"
    DEPLOYMENTS_RUN = "deployments:run"
    DEPLOYMENTS_CONFIRM = "deployments:confirm"
    CHANGES_READ = "changes:read"
    CHANGES_REQUEST = "changes:request"
    CHANGES_DECIDE = "changes:decide"
    CHANGES_CONFIGURE = "changes:configure"
    INTEGRATIONS_READ = "integrations:read"
    INTEGRATIONS_MANAGE = "integrations:manage"


_STAFF = frozenset(
    {
        Role.DEPLOYMENT_MANAGER,
        Role.DEPLOYER,
        Role.CHANGE_AUTHORITY,
        Role.RELEASE_MANAGER,
        Role.SUPPLIER,
        Role.AUDITOR,
    }
)

# Who may do what. Admin may do everything and is added below; end users and
# agents reach golive only through the portal and agent endpoints of later work.
GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.INVENTORY_READ: _STAFF,
    Permission.ENVIRONMENTS_WRITE: frozenset({Role.DEPLOYMENT_MANAGER}),
    Permission.TARGETS_WRITE: frozenset({Role.DEPLOYMENT_MANAGER}),
    Permission.COMPONENTS_WRITE: frozenset({Role.DEPLOYMENT_MANAGER, Role.RELEASE_MANAGER}),
    Permission.PRINCIPALS_MANAGE: frozenset(),
    Permission.AUDIT_READ: frozenset({Role.AUDITOR}),
    Permission.METRICS_READ: frozenset({Role.AUDITOR, Role.DEPLOYMENT_MANAGER}),
    Permission.MEDIA_READ: _STAFF,
    Permission.MEDIA_ADD: frozenset({Role.DEPLOYMENT_MANAGER, Role.RELEASE_MANAGER}),
    Permission.MEDIA_APPROVE: frozenset({Role.DEPLOYMENT_MANAGER, Role.RELEASE_MANAGER}),
    Permission.MEDIA_VERIFY: frozenset(
        {Role.DEPLOYMENT_MANAGER, Role.RELEASE_MANAGER, Role.AUDITOR}
    ),
    Permission.MEDIA_PRUNE: frozenset({Role.DEPLOYMENT_MANAGER}),
    Permission.HARDWARE_READ: _STAFF,
    Permission.HARDWARE_WRITE: frozenset({Role.DEPLOYMENT_MANAGER}),
    # Reading and closing work orders: staff and end users (process owners, site staff);
    # closing also needs the order's assigned role (workorders/service.py).
    Permission.WORK_ORDERS_READ: _STAFF | {Role.END_USER},
    Permission.WORK_ORDERS_MANAGE: frozenset({Role.DEPLOYMENT_MANAGER}),
    Permission.DEPLOYMENTS_READ: _STAFF,
    Permission.DEPLOYMENTS_RUN: frozenset({Role.DEPLOYMENT_MANAGER, Role.DEPLOYER}),
    # Confirming the next wave of a phased deployment is a person's decision (issue 5).
    Permission.DEPLOYMENTS_CONFIRM: frozenset({Role.DEPLOYMENT_MANAGER}),
    # Change control (issue 6): people raise changes; a change authority decides, and
    # which authority admits whom is configured per environment and change type.
    Permission.CHANGES_READ: _STAFF,
    Permission.CHANGES_REQUEST: frozenset(
        {Role.DEPLOYMENT_MANAGER, Role.DEPLOYER, Role.RELEASE_MANAGER, Role.SUPPLIER}
    ),
    Permission.CHANGES_DECIDE: frozenset({Role.CHANGE_AUTHORITY}),
    Permission.CHANGES_CONFIGURE: frozenset({Role.CHANGE_AUTHORITY}),
    # ITSM connections and webhooks (issue 6): their secrets let a tool raise changes and
    # receive the audit trail's events, so only admins set them up; the delivery log
    # carries audit events, so auditors read it.
    Permission.INTEGRATIONS_READ: frozenset({Role.AUDITOR}),
    Permission.INTEGRATIONS_MANAGE: frozenset(),
}


def roles_granting(permission: Permission) -> frozenset[Role]:
    """Every role that holds ``permission``, admin included."""
    return GRANTS[permission] | {Role.ADMIN}


def may(roles: frozenset[Role] | set[Role], permission: Permission) -> bool:
    return bool(roles_granting(permission) & set(roles))
