"""What can go wrong talking to a roster source, as the hold each failure becomes.

Every connector raises one of these (never a ``requests`` or ``paramiko`` exception), so the fetch
step maps them to the hold catalogue without knowing the transport: rejected credentials (401/403,
SFTP authentication) are ``credentials``; an unreachable source (connection errors, timeouts, 5xx
after retries, a refused host key, Clever's district ``state: error``) is ``disconnected``; a
source that reports a pause is :class:`SourcePausedError`, which ends the sync as ``paused``.
"""

from __future__ import annotations

from typing import Literal

SourceHold = Literal["credentials", "disconnected"]


class SourceError(Exception):
    """The source could not be read; ``hold`` names the hold the sync is put on."""

    hold: SourceHold = "disconnected"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CredentialsError(SourceError):
    """The source rejected our credentials (HTTP 401/403, SFTP authentication failed)."""

    hold: SourceHold = "credentials"


class DisconnectedError(SourceError):
    """The source could not be reached after retries, or reports an error state."""

    hold: SourceHold = "disconnected"


class HostKeyError(DisconnectedError):
    """The SFTP server's host key is not the pinned one (changed, or the server is not known)."""


class SourcePausedError(Exception):
    """The source reports that syncing is paused (e.g. Clever's district ``pause_start``/``pause_end``)."""


class SourceConfigError(Exception):
    """The source settings or its secret are incomplete (a failure, not a hold: fix settings)."""
