"""How golive reaches an SSH target: user, port, pinned host keys, remote root.

The server authenticates with one ed25519 client key of its own, kept in
``$GOLIVE_HOME/keys/ssh_client`` (mode 0600); admins put its public half in the
targets' ``authorized_keys``. Host keys are always pinned per target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import asyncssh
import typer
from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from golive import audit
from golive.api.deps import DB, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, console, done, show_one
from golive.db import Base, UTCDateTime, utcnow
from golive.errors import InvalidInputError, NotFoundError
from golive.files import write_private
from golive.inventory.cli import targets
from golive.inventory.models import ConnectionKind
from golive.inventory.schemas import StrictModel
from golive.inventory.service import get_target
from golive.validation import ShortText

CLIENT_KEY_NAME = "ssh_client"
DEFAULT_REMOTE_ROOT = "/opt/golive"


class SshEndpoint(Base):
    __tablename__ = "ssh_endpoints"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64))
    port: Mapped[int] = mapped_column(Integer)
    known_hosts: Mapped[str] = mapped_column(Text)
    remote_root: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[Any] = mapped_column(UTCDateTime(), default=utcnow)

    def as_dict(self, target: str) -> dict[str, Any]:
        return {
            "target": target,
            "username": self.username,
            "port": self.port,
            "known_hosts": self.known_hosts,
            "remote_root": self.remote_root,
        }


def client_key_path(keys_dir: Path) -> Path:
    return keys_dir / CLIENT_KEY_NAME


def ensure_client_key(keys_dir: Path) -> Path:
    """Create the server's SSH client key once (ed25519, mode 0600); return its path."""
    path = client_key_path(keys_dir)
    if path.exists():
        return path
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="golive-server")
    write_private(path, key.export_private_key())
    path.with_suffix(".pub").write_bytes(key.export_public_key())
    return path


def public_key_text(keys_dir: Path) -> str:
    return asyncssh.read_private_key(str(ensure_client_key(keys_dir))).export_public_key().decode()


def _check_known_hosts(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise InvalidInputError("known_hosts needs at least one host key line")
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if fields and fields[0].startswith("@"):  # @cert-authority / @revoked markers
            fields = fields[1:]
        key = fields[-2:] if len(fields) == 2 else fields[1:3]
        try:
            asyncssh.import_public_key(" ".join(key))
        except (ValueError, asyncssh.KeyImportError):
            raise InvalidInputError(
                f"known_hosts line {number} is not '[host]:port key-type base64-key'"
            ) from None
    return "\n".join(lines) + "\n"


def set_endpoint(
    session: Session,
    actor: Actor,
    target_name: str,
    *,
    username: str,
    port: int,
    known_hosts: str,
    remote_root: str = DEFAULT_REMOTE_ROOT,
) -> dict[str, Any]:
    target = get_target(session, target_name)
    if target.connection != ConnectionKind.SSH.value:
        raise InvalidInputError(f"target {target_name} is reached by {target.connection}, not ssh")
    if not remote_root.startswith("/"):
        raise InvalidInputError("remote_root must be an absolute path")
    endpoint = session.get(SshEndpoint, target.id)
    before = endpoint.as_dict(target_name) if endpoint is not None else None
    if endpoint is None:
        endpoint = SshEndpoint(target_id=target.id)
        session.add(endpoint)
    endpoint.username = username
    endpoint.port = port
    endpoint.known_hosts = _check_known_hosts(known_hosts)
    endpoint.remote_root = remote_root
    endpoint.updated_at = utcnow()
    session.flush()
    after = endpoint.as_dict(target_name)
    audit.record(
        session,
        actor=actor.name,
        action="target.ssh",
        subject_type="target",
        subject_id=target_name,
        before=before,
        after=after,
    )
    return after


def get_endpoint(session: Session, target_id: int) -> SshEndpoint | None:
    return session.scalars(select(SshEndpoint).where(SshEndpoint.target_id == target_id)).first()


# --- API -------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1", tags=["ssh"])


class SshEndpointSpec(StrictModel):
    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_.-]*$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    known_hosts: Annotated[str, Field(min_length=1, max_length=20_000)]
    remote_root: ShortText = DEFAULT_REMOTE_ROOT


@router.put("/targets/{name}/ssh", summary="Set how golive reaches an SSH target")
def put_endpoint(
    name: str,
    spec: SshEndpointSpec,
    db: DB,
    actor: Annotated[Actor, Depends(require(Permission.TARGETS_WRITE))],
) -> dict[str, Any]:
    with db.writing() as session:
        return set_endpoint(
            session,
            actor,
            name,
            username=spec.username,
            port=spec.port,
            known_hosts=spec.known_hosts,
            remote_root=spec.remote_root,
        )


@router.get("/targets/{name}/ssh", summary="How golive reaches an SSH target")
def show_endpoint(
    name: str, db: DB, _actor: Annotated[Actor, Depends(require(Permission.INVENTORY_READ))]
) -> dict[str, Any]:
    with db.reading() as session:
        target = get_target(session, name)
        endpoint = get_endpoint(session, target.id)
        if endpoint is None:
            raise NotFoundError(
                f"target {name} has no SSH settings; set them with `golive targets ssh`"
            )
        return endpoint.as_dict(name)


@router.get("/ssh/public-key", summary="The server's SSH client public key (for authorized_keys)")
def server_public_key(
    request: Request, _actor: Annotated[Actor, Depends(require(Permission.INVENTORY_READ))]
) -> dict[str, str]:
    return {"public_key": public_key_text(request.app.state.settings.keys_dir).strip()}


# --- CLI -------------------------------------------------------------------------


@targets.command("ssh")
def target_ssh(
    name: str,
    user: Annotated[str, typer.Option(help="Remote user golive logs in as.")],
    known_hosts_file: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="The host's known_hosts line(s).")
    ],
    port: Annotated[int, typer.Option(min=1, max=65535)] = 22,
    root: Annotated[str, typer.Option(help="Remote folder for releases.")] = DEFAULT_REMOTE_ROOT,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Set how golive reaches an SSH target (its host key is pinned)."""
    body = {
        "username": user,
        "port": port,
        "known_hosts": known_hosts_file.read_text(),
        "remote_root": root,
    }
    saved = ApiClient().request("PUT", f"/api/v1/targets/{name}/ssh", json=body).json()
    done(f"SSH settings of {name} saved.", output, saved)


@targets.command("ssh-key")
def target_ssh_key(output: OutputOption = OutputFormat.TABLE) -> None:
    """Print the server's SSH public key, for the targets' authorized_keys."""
    answer = ApiClient().get("/api/v1/ssh/public-key")
    if output is OutputFormat.JSON:
        show_one(answer, output)
    else:
        console.print(answer["public_key"])
