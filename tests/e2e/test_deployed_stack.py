"""The whole product against a deployed stack: SFTP upload, a hold, a release through the API, the event.

Skipped unless ``ROSTERSYNC_STACK`` names a deployed stack (README, "Tests", lists every
variable). The stack's outputs (CloudFormation DescribeStacks) give the SFTP endpoint, the API URL
and the event bus. The test uploads a generated Clever set over SFTP as the district's Transfer
Family user, waits until it is applied (releasing it if an earlier run left data that holds it),
uploads the same district with half of one school's students gone, waits for the mass-removal
hold, releases it through the release API with an operator's Cognito ID token, and reads the
``RosterChangesApplied`` event of that sync from an SQS queue the test subscribes to the roster
bus for its duration (rule and queue are deleted afterwards).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

STACK = os.environ.get("ROSTERSYNC_STACK", "")
pytestmark = pytest.mark.skipif(not STACK, reason="set ROSTERSYNC_STACK to run against a deployed stack")

T = TypeVar("T")
TIMEOUT = float(os.environ.get("ROSTERSYNC_E2E_TIMEOUT", "1200"))  # the quiet period alone is 300 s
POLL = 10.0
CLOCK_SKEW = timedelta(seconds=30)  # this machine's clock against Lambda's
APPLIED = "RosterChangesApplied"
OVER = {"applied", "partially_applied", "rejected", "expired", "superseded", "paused", "failed"}


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: the e2e test needs it (README, 'Tests')")
    return value


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(POLL)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


# ------------------------------------------------------------------------------------------ stack
@dataclass(frozen=True)
class Stack:
    session: Any  # boto3.Session
    outputs: dict[str, str]
    parameters: dict[str, str]
    district_id: str
    token: str

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        import requests

        response = requests.request(
            method,
            self.outputs["ReleaseApiUrl"] + path,
            headers={"Authorization": self.token},
            json=body,
            timeout=30,
        )
        return response.status_code, response.json() if response.content else None


@pytest.fixture(scope="module")
def stack() -> Stack:
    import boto3

    # An explicit profile makes boto3 ignore the stand-in credentials the root conftest.py sets.
    session = boto3.Session(profile_name=os.environ.get("AWS_PROFILE") or None)
    (described,) = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    district_id = os.environ.get("ROSTERSYNC_E2E_DISTRICT") or parameters.get("ExampleDistrictId", "")
    if not district_id:
        pytest.fail("no district: set ROSTERSYNC_E2E_DISTRICT or deploy with ExampleDistrictId")
    if "SftpServerEndpoint" not in outputs:
        pytest.fail(f"stack {STACK} has no SFTP server (EnableSftpServer=false)")
    return Stack(session, outputs, parameters, district_id, required("ROSTERSYNC_E2E_TOKEN"))


# ------------------------------------------------------------------------------------------- SFTP
def upload(stack: Stack, files: dict[str, bytes]) -> None:
    """Put the set into the district's SFTP home (its inbox), checking the server's host key
    against the fingerprint Transfer Family reports for the server."""
    import paramiko

    server_id = stack.outputs["SftpServerId"]
    expected = stack.session.client("transfer").describe_server(ServerId=server_id)["Server"]
    fingerprint = expected["HostKeyFingerprint"].removeprefix("SHA256:").rstrip("=")

    class PinnedHostKey(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
            seen = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
            if seen != fingerprint:
                raise paramiko.SSHException(
                    f"{hostname} offered host key SHA256:{seen}, expected {fingerprint}"
                )

    key = paramiko.PKey.from_path(required("ROSTERSYNC_E2E_SSH_KEY"))
    with paramiko.SSHClient() as ssh:
        ssh.set_missing_host_key_policy(PinnedHostKey())
        ssh.connect(
            stack.outputs["SftpServerEndpoint"],
            username=stack.district_id,
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=30,
        )
        with ssh.open_sftp() as sftp:
            for name, data in files.items():
                sftp.putfo(io.BytesIO(data), name)


# ----------------------------------------------------------------------------------------- events
@pytest.fixture(scope="module")
def applied_events(stack: Stack) -> Iterator[Callable[[str], dict[str, Any]]]:
    """An SQS queue subscribed to the district's RosterChangesApplied events while the test runs;
    yields a function that waits for the event of one sync."""
    events, sqs = stack.session.client("events"), stack.session.client("sqs")
    name = f"rostersync-e2e-{uuid.uuid4().hex[:12]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = stack.outputs["RosterEventBusName"]
    pattern = {
        "source": ["rostersync"],
        "detail-type": [APPLIED],
        "detail": {"district_id": [stack.district_id]},
    }
    rule_arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    received: list[dict[str, Any]] = []

    def event_of(sync_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            for message in sqs.receive_message(
                QueueUrl=queue_url, WaitTimeSeconds=10, MaxNumberOfMessages=10
            ).get("Messages", []):
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return next((e for e in received if e["detail"]["sync_id"] == sync_id), None)

        return wait_for(f"the {APPLIED} event of sync {sync_id}", probe)

    try:
        yield event_of
    finally:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=bus)
        sqs.delete_queue(QueueUrl=queue_url)


# ------------------------------------------------------------------------------------------ syncs
def clever_files(district: Any, folder: Path) -> dict[str, bytes]:
    from rostersync_tools.synthetic import write_clever_csv

    return {name: path.read_bytes() for name, path in sorted(write_clever_csv(district, folder).items())}


def sync_after(stack: Stack, since: datetime, statuses: set[str]) -> dict[str, Any]:
    """The newest sync created after ``since`` once it reaches one of ``statuses``."""

    def probe() -> dict[str, Any] | None:
        status, body = stack.api("GET", f"/districts/{stack.district_id}/syncs?limit=20")
        assert status == 200, body
        fresh = [
            s
            for s in body["syncs"]
            if datetime.fromisoformat(s["created_at"]) >= since and s["status"] != "coalesced"
        ]
        return next((s for s in fresh if s["status"] in statuses), None)

    return wait_for(f"a sync of {stack.district_id} in {sorted(statuses)}", probe)


def release(stack: Stack, sync_id: str) -> None:
    status, hold = stack.api("GET", f"/syncs/{sync_id}")
    assert status == 200, hold
    types = sorted({h["type"] for h in hold["holds"]})
    status, body = stack.api("POST", f"/syncs/{sync_id}/release", {"hold_types": types})
    assert status == 202, body


def upload_and_settle(stack: Stack, files: dict[str, bytes]) -> dict[str, Any]:
    since = datetime.now(UTC) - CLOCK_SKEW
    upload(stack, files)
    return sync_after(stack, since, {"held", *OVER})


# ------------------------------------------------------------------------------------------- test
def test_a_held_upload_released_through_the_api_publishes_roster_changes_applied(
    stack: Stack, applied_events: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    from rostersync_tools.synthetic import drop_school_students, generate_district

    admin = os.environ.get("ROSTERSYNC_E2E_ADMIN_EMAIL", "success@simulator.amazonses.com")
    status, body = stack.api(
        "PATCH",
        f"/districts/{stack.district_id}/settings",
        {"admin_emails": [admin], "holds": {"emergency_contacts": "allow"}},
    )
    assert status == 200, body
    day1 = generate_district(students=450, schools=3, seed=7, district_id=stack.district_id)
    school = sorted(day1.table("schools").column("school_id").to_pylist())[0]
    # Given an accepted version of day 1 (released if what an earlier run left makes it hold)
    first = upload_and_settle(stack, clever_files(day1, tmp_path / "day1"))
    if first["status"] == "held":
        release(stack, first["sync_id"])
        first = sync_after(stack, datetime.fromisoformat(first["created_at"]), OVER)
    assert first["status"] == "applied", first

    # When half of one school's students disappear, the sync holds that school
    day2 = drop_school_students(day1, school, 0.5)
    held = upload_and_settle(stack, clever_files(day2, tmp_path / "day2"))
    assert held["status"] == "held" and held["held_schools"] == [school], held

    # And an operator releases it through the API
    release(stack, held["sync_id"])

    # Then the sync is applied and RosterChangesApplied says so
    event = applied_events(held["sync_id"])
    assert event["detail-type"] == APPLIED
    assert event["detail"]["district_id"] == stack.district_id
    assert event["detail"]["version"] > event["detail"]["previous_version"]
    done = sync_after(stack, datetime.fromisoformat(held["created_at"]), OVER)
    assert done["sync_id"] == held["sync_id"] and done["status"] == "applied", done
