"""Emails SES accepted in the local stack, written to a folder as RFC 5322 ``.eml`` files.

The pipeline sends through SES (``rostersync.aws.mailer.SesMailer``). moto keeps what SES accepted
but only one body of each message (the HTML one when there are both), so :class:`MailerTap` wraps
the mailer adapter in this process and records every email SES accepted with both its parts.
:class:`Outbox` writes each recorded email once, as a ``multipart/alternative`` message with its
text and HTML parts, named ``0001-<subject>.eml`` in arrival order, so any mail client (or
``cat``) can open it.
Development only: nothing here is deployed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol


class Sent(Protocol):
    source: str
    to: list[str]
    subject: str | None
    text: str | None
    html: str | None
    raw: str | None


@dataclass(frozen=True)
class OutboxEmail:
    source: str
    to: list[str]
    subject: str | None
    text: str | None
    html: str | None
    raw: str | None = None


class MailerTap:
    """Records what :class:`~rostersync.aws.mailer.SesMailer` got SES to accept, while installed.

    The functions run in this process (:mod:`rostersync_tools.local.routing`), so wrapping the class's
    ``send`` sees every email the pipeline sends. Only one tap can be installed at a time.
    """

    def __init__(self) -> None:
        self.sent: list[OutboxEmail] = []
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> MailerTap:
        from rostersync.aws.mailer import SesMailer

        if self._original is not None:
            return self
        original = SesMailer.send
        tap = self

        def send(mailer: SesMailer, **kwargs: Any) -> bool:
            accepted = bool(original(mailer, **kwargs))
            if accepted:
                with tap._lock:
                    tap.sent.append(
                        OutboxEmail(
                            source=mailer.sender,
                            to=list(kwargs["to"]),
                            subject=kwargs.get("subject"),
                            text=kwargs.get("text"),
                            html=kwargs.get("html"),
                        )
                    )
            return accepted

        SesMailer.send = send  # type: ignore[method-assign,assignment]
        self._original = original
        return self

    def uninstall(self) -> None:
        from rostersync.aws.mailer import SesMailer

        if self._original is not None:
            SesMailer.send = self._original  # type: ignore[method-assign]
            self._original = None

    def emails(self) -> list[OutboxEmail]:
        with self._lock:
            return list(self.sent)


def to_eml(sent: Sent) -> bytes:
    """One sent email as RFC 5322 bytes (a raw message is kept as it was sent)."""
    if sent.raw:
        return sent.raw.encode("utf-8")
    message = EmailMessage()
    message["From"] = sent.source
    message["To"] = ", ".join(sent.to)
    message["Subject"] = sent.subject or ""
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="rostersync_tools.local")
    message.set_content(sent.text or "")
    if sent.html:
        message.add_alternative(sent.html, subtype="html")
    return bytes(message)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "email"


class Outbox:
    """Writes the emails ``source()`` returns (oldest first, growing) into ``folder``."""

    def __init__(self, folder: Path, source: Callable[[], Sequence[Sent]]) -> None:
        self.folder = folder
        self.source = source
        self.written: list[Path] = []
        self._lock = threading.Lock()

    def collect(self) -> list[tuple[Path, Sent]]:
        """Write the emails not written yet; the new files with their emails."""
        with self._lock:
            sent = list(self.source())
            new = []
            for sent_email in sent[len(self.written) :]:
                self.folder.mkdir(parents=True, exist_ok=True)
                number = len(self.written) + 1
                path = self.folder / f"{number:04d}-{_slug(sent_email.subject or '')}.eml"
                path.write_bytes(to_eml(sent_email))
                self.written.append(path)
                new.append((path, sent_email))
            return new
