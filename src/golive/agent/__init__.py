"""golive-agent: what runs on a target. It pulls its desired state, downloads through TUF,
installs atomically, rolls back on a failed health check and reports (docs/agent-protocol.md).

Importable without the server's dependencies: only the standard library, httpx, tuf,
securesystemslib, cryptography and filelock.
"""

from __future__ import annotations
