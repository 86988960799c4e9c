"""The agent's errors: each says in one sentence what went wrong and what happens next."""

from __future__ import annotations

from golive.errors import GoliveError


class AgentError(GoliveError):
    """Base of the agent's own errors."""

    code = "agent"
    exit_code = 1


class AssignmentFailure(AgentError):
    """This assignment cannot be carried out; it is reported ``failed`` with this reason."""

    code = "assignment_failed"


class ArchiveRefused(AssignmentFailure):
    """An archive entry would land outside the release folder, or is a device file."""

    code = "archive_refused"


class ServerUnavailable(AgentError):
    """The server did not answer, or answered 5xx: retry later with backoff."""

    code = "server_unavailable"
    exit_code = 4


class TargetRevoked(AgentError):
    """The server revoked this target's credential: the agent stops."""

    code = "target_revoked"
    exit_code = 3


class CredentialRefused(AgentError):
    """The server refused the agent's credential or enrollment token."""

    code = "credential_refused"
    exit_code = 3


class ConfigurationError(AgentError):
    """The command line or the agent's root folder cannot be used as given."""

    code = "configuration"
    exit_code = 2


class AnotherAgentRunning(ConfigurationError):
    """Another golive-agent holds this root's lock."""

    code = "agent_running"
