"""The local outbox: sent emails as RFC 5322 files, each written once; and the serve guards."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from rostersync_tools.local.outbox import Outbox, OutboxEmail, to_eml
from rostersync_tools.local.serve import ServeError, require_loopback

HELD = OutboxEmail(
    source="rostersync@vendor.example.com",
    to=["admin@d1.example.org"],
    subject="[rostersync] d1: sync d1-abc is on hold (1 hold)",
    text="School 102: would remove 230 of 501 students\n",
    html="<p>School 102: would remove 230 of 501 students</p>",
)


def test_an_email_becomes_a_multipart_message_with_its_text_and_html() -> None:
    message = email.message_from_bytes(to_eml(HELD), policy=email.policy.default)

    assert message["From"] == HELD.source
    assert message["To"] == "admin@d1.example.org"
    assert message["Subject"] == HELD.subject
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and "230 of 501" in plain.get_content()
    assert html is not None and "<p>" in html.get_content()


def test_the_outbox_writes_each_email_once_in_arrival_order(tmp_path: Path) -> None:
    sent = [HELD]
    outbox = Outbox(tmp_path / "outbox", lambda: sent)

    first = outbox.collect()
    sent.append(OutboxEmail(HELD.source, HELD.to, "[rostersync] d1: sync d1-abc applied", "ok", None))
    second = outbox.collect()

    assert [p.name for p, _ in first] == ["0001-rostersync-d1-sync-d1-abc-is-on-hold-1-hold.eml"]
    assert [p.name for p, _ in second] == ["0002-rostersync-d1-sync-d1-abc-applied.eml"]
    assert outbox.collect() == []
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        "0001-rostersync-d1-sync-d1-abc-is-on-hold-1-hold.eml",
        "0002-rostersync-d1-sync-d1-abc-applied.eml",
    ]


@pytest.mark.parametrize(("host", "served"), [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1")])
def test_serve_accepts_loopback_addresses(host: str, served: str) -> None:
    assert require_loopback(host) == served


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::1"])
def test_serve_refuses_addresses_beyond_loopback(host: str) -> None:
    with pytest.raises(ServeError):
        require_loopback(host)
