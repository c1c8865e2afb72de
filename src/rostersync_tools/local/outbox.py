"""Emails SES accepted in the local stack, written to a folder as RFC 5322 ``.eml`` files.

The pipeline sends through SES (``rostersync.aws.mailer.SesMailer``). moto keeps what SES accepted
but only one body of each message (the HTML one when there are both), so :class:`MailRecorder`
wraps the mailer adapter the local stack hands the functions and records every email SES accepted
with both its parts.
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
from typing import Protocol

from rostersync.pipeline.ports import Mailer


class Sent(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def to(self) -> list[str]: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def html(self) -> str | None: ...
    @property
    def raw(self) -> str | None: ...


@dataclass(frozen=True)
class OutboxEmail:
    source: str
    to: list[str]
    subject: str | None
    text: str | None
    html: str | None
    raw: str | None = None


class MailRecorder:
    """Keeps every email the pipeline's mailer accepted, with both its parts.

    The local stack is the functions' composition root, so the serve command hands it
    :meth:`wrap` to put around the mailer adapter (``LocalAws(adapt=...)``): nothing is patched.
    """

    def __init__(self, on_record: Callable[[], None] | None = None) -> None:
        self.sent: list[OutboxEmail] = []
        self.on_record = on_record  # told after each email is recorded (serve's watcher)
        self._lock = threading.Lock()

    def wrap(self, mailer: Mailer, sender: str) -> Mailer:
        """``mailer``, recording here what it accepts (sent from ``sender``)."""
        return _RecordingMailer(mailer, sender, self)

    def record(self, email: OutboxEmail) -> None:
        with self._lock:
            self.sent.append(email)
        if self.on_record is not None:
            self.on_record()

    def emails(self) -> list[OutboxEmail]:
        with self._lock:
            return list(self.sent)


class _RecordingMailer:
    def __init__(self, inner: Mailer, sender: str, recorder: MailRecorder) -> None:
        self.inner = inner
        self.sender = sender
        self.recorder = recorder

    def send(
        self, *, district_id: str, dedupe_key: str, to: list[str], subject: str, text: str, html: str
    ) -> bool:
        accepted = self.inner.send(
            district_id=district_id, dedupe_key=dedupe_key, to=to, subject=subject, text=text, html=html
        )
        if accepted:
            self.recorder.record(OutboxEmail(self.sender, list(to), subject, text, html))
        return accepted


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
