"""The AWS adapters on moto: conditional S3 create, the district lock, markers, mail and events."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from rostersync.aws import DynamoRepository, EventBridgeBus, S3BlobStore, SesMailer, StepFunctionsWorkflow
from rostersync.aws.mailer import MailInProgressError
from rostersync.settings import DistrictSettings
from rostersync.storage import BlobNotFoundError
from tests.support.pipeline_helpers import BUS, NOW, SENDER, TABLE, sent_emails


@pytest.fixture
def repo(moto_aws: None) -> DynamoRepository:
    return DynamoRepository(TABLE)


def test_put_if_absent_refuses_an_existing_key_and_keeps_the_first_object(moto_aws: None) -> None:
    store = S3BlobStore("snapshot-bucket", prefix="districts")
    assert store.put_if_absent("d1/versions/000001.json", b"first")

    assert not store.put_if_absent("d1/versions/000001.json", b"second")
    assert store.get("d1/versions/000001.json") == b"first"


def test_s3_store_lists_relative_keys_and_reports_missing_objects(moto_aws: None) -> None:
    store = S3BlobStore("snapshot-bucket", prefix="districts")
    store.put("d1/a.json", b"a")
    store.put("d2/b.json", b"b")

    assert store.list("d1/") == ["d1/a.json"]
    assert store.exists("d2/b.json")
    with pytest.raises(BlobNotFoundError):
        store.get("d1/missing.json")


def test_a_free_lock_is_acquired_and_a_second_sync_is_refused(repo: DynamoRepository) -> None:
    assert repo.acquire_lock("d1", "sync-a", NOW)

    assert not repo.acquire_lock("d1", "sync-b", NOW)
    lock = repo.get_lock("d1")
    assert lock is not None and lock.owner == "sync-a" and lock.state == "active"


def test_the_owner_reacquires_its_own_lock(repo: DynamoRepository) -> None:
    repo.acquire_lock("d1", "sync-a", NOW)

    assert repo.acquire_lock("d1", "sync-a", NOW)


def test_a_lock_is_taken_over_only_while_its_owner_is_held(repo: DynamoRepository) -> None:
    repo.acquire_lock("d1", "sync-a", NOW)
    assert not repo.take_over_lock("d1", "sync-a", "sync-b", NOW)

    repo.set_lock_state("d1", "sync-a", "held")

    assert repo.take_over_lock("d1", "sync-a", "sync-b", NOW)
    lock = repo.get_lock("d1")
    assert lock is not None and lock.owner == "sync-b" and lock.state == "active"


def test_only_the_owner_releases_the_lock(repo: DynamoRepository) -> None:
    repo.acquire_lock("d1", "sync-a", NOW)

    assert not repo.release_lock("d1", "sync-b")
    assert repo.release_lock("d1", "sync-a")
    assert repo.get_lock("d1") is None


def test_settings_keep_only_what_the_district_set(repo: DynamoRepository) -> None:
    repo.put_settings(DistrictSettings(district_id="d1", admin_emails=["a@example.org"]))

    settings = repo.get_settings("d1")

    assert settings.admin_emails == ["a@example.org"]
    assert "hold_expiry_days" not in settings.model_fields_set


def test_a_marker_is_claimed_once_except_by_its_owner(repo: DynamoRepository) -> None:
    assert repo.claim("d1", "UPLOAD#x", NOW, owner="sync-a")

    assert repo.claim("d1", "UPLOAD#x", NOW, owner="sync-a")
    assert not repo.claim("d1", "UPLOAD#x", NOW, owner="sync-b")


def test_a_claim_is_taken_over_only_from_the_owner_named(repo: DynamoRepository) -> None:
    assert repo.claim("d1", "UPLOAD#x", NOW, owner="sync-a")

    assert not repo.take_over_claim("d1", "UPLOAD#x", NOW, "sync-c", previous_owner="sync-b")
    assert repo.claim_owner("d1", "UPLOAD#x") == "sync-a"
    assert repo.take_over_claim("d1", "UPLOAD#x", NOW, "sync-b", previous_owner="sync-a")
    assert repo.claim_owner("d1", "UPLOAD#x") == "sync-b"
    assert repo.claim_owner("d1", "UPLOAD#none") is None


def test_the_mailer_sends_once_per_dedupe_key(repo: DynamoRepository) -> None:
    mailer = SesMailer(SENDER, repo.table_name)
    kwargs = {"district_id": "d1", "to": ["a@example.org"], "subject": "s", "text": "t", "html": "<p>h</p>"}

    assert mailer.send(dedupe_key="hold-1", **kwargs)
    assert not mailer.send(dedupe_key="hold-1", **kwargs)
    assert len(sent_emails()) == 1


def test_a_refused_email_can_be_sent_again_on_retry(repo: DynamoRepository) -> None:
    mailer = SesMailer("unverified@example.com", repo.table_name)
    kwargs = {"district_id": "d1", "to": ["a@example.org"], "subject": "s", "text": "t", "html": "h"}
    with pytest.raises(Exception, match=r"not verified|MessageRejected"):
        mailer.send(dedupe_key="hold-1", **kwargs)

    mailer.sender = SENDER

    assert mailer.send(dedupe_key="hold-1", **kwargs)


class Killed(BaseException):
    """The invocation dies between the claim and SES (a timeout, an out-of-memory kill)."""


def _killed_once(mailer: SesMailer, **kwargs: Any) -> None:
    def kill(**_: Any) -> None:
        raise Killed

    events = mailer.client.meta.events
    events.register("before-call.ses.SendEmail", kill)
    try:
        with pytest.raises(Killed):
            mailer.send(**kwargs)
    finally:
        events.unregister("before-call.ses.SendEmail", kill)


def test_an_email_whose_sender_died_is_not_sent_twice_while_its_lease_runs(repo: DynamoRepository) -> None:
    mailer = SesMailer(SENDER, repo.table_name)
    kwargs = {
        "district_id": "d1",
        "dedupe_key": "hold-1",
        "to": ["a@example.org"],
        "subject": "s",
        "text": "t",
    }
    _killed_once(mailer, html="h", **kwargs)

    with pytest.raises(MailInProgressError):
        mailer.send(html="h", **kwargs)
    assert sent_emails() == []


def test_an_email_whose_sender_died_is_sent_by_a_retry_after_the_lease(repo: DynamoRepository) -> None:
    mailer = SesMailer(SENDER, repo.table_name, lease_seconds=0)
    kwargs = {
        "district_id": "d1",
        "dedupe_key": "hold-1",
        "to": ["a@example.org"],
        "subject": "s",
        "text": "t",
    }
    _killed_once(mailer, html="h", **kwargs)

    assert mailer.send(html="h", **kwargs)
    assert not mailer.send(html="h", **kwargs)
    assert len(sent_emails()) == 1


def test_the_bus_puts_an_event_once_per_dedupe_key(repo: DynamoRepository) -> None:
    bus = EventBridgeBus(BUS, repo)
    detail = {"district_id": "d1", "version": 1}

    assert bus.publish(district_id="d1", dedupe_key="s-v1", detail_type="RosterChangesApplied", detail=detail)
    assert not bus.publish(
        district_id="d1", dedupe_key="s-v1", detail_type="RosterChangesApplied", detail=detail
    )


def test_a_second_start_under_the_same_name_starts_nothing(moto_aws: None) -> None:
    sfn = boto3.client("stepfunctions")
    definition = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
    arn = sfn.create_state_machine(
        name="sync", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    workflow = StepFunctionsWorkflow(arn)
    first = workflow.start("d1-abc", {"district_id": "d1"})
    sfn.stop_execution(executionArn=first)  # ended: a repeat is ExecutionAlreadyExists

    assert first is not None
    assert workflow.start("d1-abc", {"district_id": "d1"}) is None
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
