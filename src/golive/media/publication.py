"""Keep the TUF repository in step with the library: it publishes exactly the approved versions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from golive.db import Database
from golive.media.service import approved_targets

if TYPE_CHECKING:
    from golive.media.tuf_repo import TufRepository

log = logging.getLogger("golive.media")


def publish_library(db: Database, tuf: TufRepository | None) -> bool:
    """Publish the approved versions as TUF targets; True when new metadata was written."""
    if tuf is None:
        return False
    from golive.media.tuf_repo import PublishedTarget

    with db.reading() as session:
        targets = {
            version.target_path: PublishedTarget(
                length=version.size,
                sha256=version.digest,
                custom={"component": version.component.name, "version": version.version},
            )
            for version in approved_targets(session)
        }
    changed = tuf.publish(targets)
    if changed:
        log.info("published %d approved version(s) to the TUF repository", len(targets))
    return changed
