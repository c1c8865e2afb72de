"""Scheduled pulls through the real stack (rostersync_tools.local): the nightly schedule's event starts a
sync, Fetch pulls a Clever-like source on loopback, and the pipeline diffs, evaluates and applies
it like an upload; a source that rejects the token holds the sync on ``credentials``, and the
admin's retry runs the fetch again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rostersync.sources import CleverSource
from rostersync_tools.local import LocalAws
from tests.support.clever_server import FakeClever
from tests.support.data import clever_district

from .conftest import TIMEOUT, accepted, accepted_version, decide, district_settings, put_settings, wait_ended

D = "pull1"
SECRET = "it/districts/pull1/clever"


@pytest.fixture
def clever() -> Iterator[FakeClever]:
    data = clever_district()
    with FakeClever(district=data["district"], data=data["data"], users=data["users"], lifetime=60) as server:
        yield server


def _pulled_district(stack: LocalAws, clever: FakeClever, token: str) -> None:
    stack.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps({"token": token}))
    source = CleverSource(kind="clever", secret_id=SECRET, base_url=clever.url, page_size=5)
    put_settings(stack, district_settings(D, source=source))


def _scheduled(stack: LocalAws, scheduled_time: str = "2025-03-03T07:00:00Z") -> list[str]:
    result = stack.invoke(
        "IngestFunction", {"source": "rostersync.scheduler", "scheduled_time": scheduled_time}
    )
    return list(result["started"])


def test_a_scheduled_clever_pull_produces_an_accepted_snapshot(stack: LocalAws, clever: FakeClever) -> None:
    _pulled_district(stack, clever, "district-token")

    (sync_id,) = _scheduled(stack)
    record = stack.wait_for_sync(D, sync_id, {"applied", "held", "failed"}, timeout=TIMEOUT)

    assert record["status"] == "applied", record
    assert record["trigger"] == "schedule"
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    v1 = accepted(stack, D, 1)
    assert v1.tables["students"].num_rows == 12 and v1.tables["contacts"].num_rows == 3
    assert record["keys"]["raw"].startswith(f"syncs/{D}/{sync_id}/raw")
    assert any("/v3.0/users?" in path for _, path, _ in clever.log)


def test_the_same_scheduled_time_starts_nothing_twice(stack: LocalAws, clever: FakeClever) -> None:
    _pulled_district(stack, clever, "district-token")

    first = _scheduled(stack)
    again = _scheduled(stack)

    assert len(first) == 1 and again == []
    wait_ended(stack, first[0])


def test_a_rejected_token_holds_the_sync_on_credentials_and_retry_fetches_again(
    stack: LocalAws, clever: FakeClever
) -> None:
    _pulled_district(stack, clever, "revoked-token")

    (sync_id,) = _scheduled(stack)
    held: dict[str, Any] = stack.wait_for_sync(D, sync_id, {"held", "applied", "failed"}, timeout=TIMEOUT)

    assert held["status"] == "held", held
    assert [h["type"] for h in held["holds"]] == ["credentials"]
    assert "401" in held["holds"][0]["message"]
    assert held["releasable"] is False
    assert accepted_version(stack, D) is None

    # The admin fixes the secret and chooses "retry": the execution goes back to Fetch.
    stack.client("secretsmanager").put_secret_value(
        SecretId=SECRET, SecretString='{"token": "district-token"}'
    )
    decide(stack, D, sync_id, "retry")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    record = stack.sync_record(D, sync_id) or {}
    assert record["status"] == "applied" and record["attempt"] == 2
    assert accepted_version(stack, D) == 1


def test_an_unreachable_source_holds_the_sync_as_disconnected(stack: LocalAws, clever: FakeClever) -> None:
    _pulled_district(stack, clever, "district-token")
    clever.district["state"] = "error"
    clever.district["error"] = "the SIS connection failed"

    (sync_id,) = _scheduled(stack)
    held = stack.wait_for_sync(D, sync_id, {"held", "applied", "failed"}, timeout=TIMEOUT)

    assert [h["type"] for h in held["holds"]] == ["disconnected"]
    assert "the SIS connection failed" in held["holds"][0]["message"]


def test_a_source_that_reports_a_pause_ends_the_sync_paused(stack: LocalAws, clever: FakeClever) -> None:
    _pulled_district(stack, clever, "district-token")
    clever.district.update({"pause_start": "2000-01-01", "pause_end": "2999-12-31"})

    (sync_id,) = _scheduled(stack)

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    record = stack.sync_record(D, sync_id) or {}
    assert record["status"] == "paused" and "paused from 2000-01-01" in record["reason"]
    assert not [path for _, path, _ in clever.log if "/users" in path]


def test_configured_schools_missing_from_the_source_hold_on_schools_not_found(
    stack: LocalAws, clever: FakeClever
) -> None:
    _pulled_district(stack, clever, "district-token")
    source = CleverSource(kind="clever", secret_id=SECRET, base_url=clever.url)
    put_settings(stack, district_settings(D, source=source, school_ids=["sch1", "sch-gone"]))

    (sync_id,) = _scheduled(stack)
    held = stack.wait_for_sync(D, sync_id, {"held", "applied", "failed"}, timeout=TIMEOUT)

    assert "schools_not_found" in [h["type"] for h in held["holds"]]


def test_a_district_sftp_site_is_pulled_into_the_normal_csv_path(stack: LocalAws, tmp_path: Any) -> None:
    import paramiko

    from rostersync.sources import SftpPullSource
    from tests.support.sftp_server import FakeSftpSite

    root = tmp_path / "site"
    root.mkdir()
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "clever_basic"
    for path in fixtures.iterdir():
        (root / path.name).write_bytes(path.read_bytes())
    host_key = paramiko.ECDSAKey.generate()
    with FakeSftpSite(root, host_key, lifetime=60) as site:
        secret = {"host": "127.0.0.1", "port": site.port, "username": "district", "password": "s3cret"}
        stack.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps(secret))
        source = SftpPullSource(
            kind="sftp_pull", secret_id=SECRET, host_key=f"{host_key.get_name()} {host_key.get_base64()}"
        )
        put_settings(stack, district_settings(D, source=source))

        (sync_id,) = _scheduled(stack)
        record = stack.wait_for_sync(D, sync_id, {"applied", "held", "failed"}, timeout=TIMEOUT)

    assert record["status"] in {"applied", "held"}, record
    assert record["counts"]["staged"]["students"] > 0
    raw = stack.client("s3").list_objects_v2(
        Bucket=stack.env("RAW_BUCKET"), Prefix=f"syncs/{D}/{sync_id}/raw/"
    )
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in raw["Contents"]) == sorted(
        p.name for p in fixtures.iterdir()
    )


def test_a_credentials_hold_is_visible_through_the_release_api(stack: LocalAws, clever: FakeClever) -> None:
    from rostersync.api import openapi_document
    from rostersync_tools.local.apigw import proxy_event

    _pulled_district(stack, clever, "revoked-token")
    (sync_id,) = _scheduled(stack)
    stack.wait_for_sync(D, sync_id, {"held", "applied", "failed"}, timeout=TIMEOUT)
    admin = {
        "sub": "a-1",
        "email": "admin@example.org",
        "cognito:groups": ["district_admin"],
        "custom:districts": D,
    }

    def get(path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        event = proxy_event(
            "GET", path, query=query, claims=admin, resources=list(openapi_document()["paths"])
        )
        result = stack.invoke("ApiFunction", event)
        return result["statusCode"], json.loads(result["body"])

    status, sync = get(f"/syncs/{sync_id}")
    assert status == 200, sync
    assert sync["status"] == "held"
    assert [h["type"] for h in sync["holds"]] == ["credentials"]
    status, holds = get(f"/districts/{D}/holds", {"status": "open"})
    assert status == 200, holds
    assert [(h["sync_id"], h["hold_types"]) for h in holds["holds"]] == [(sync_id, ["credentials"])]
