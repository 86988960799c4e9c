"""The tamper-evident audit trail: an append-only, hash-chained list of events."""

from __future__ import annotations

from golive.audit.chain import (
    AuditEvent,
    ChainVerdict,
    Entry,
    record,
    record_many,
    record_update,
    verify_events,
)

__all__ = [
    "AuditEvent",
    "ChainVerdict",
    "Entry",
    "record",
    "record_many",
    "record_update",
    "verify_events",
]
