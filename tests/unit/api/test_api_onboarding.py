"""The operator's onboarding routes: districts, SFTP users (Transfer Family in moto), source
credentials (Secrets Manager in moto), pull schedules (EventBridge Scheduler in moto), pull now,
deactivation, and the audit of each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rostersync.api.deps import ApiDeps
from rostersync.api.onboarding_ports import OnboardingDeps
from rostersync.aws.districts import DynamoDistrictDirectory
from rostersync.aws.provisioning import SchedulerPullSchedules, SecretsManagerWriter, TransferSftpUsers
from rostersync.settings import DistrictSettings
from tests.support.api_helpers import ADMIN_D1, OPERATOR, TABLE, RecordingWorkflow, invoke

RAW = "raw-bucket"
ROLE = "arn:aws:iam::123456789012:role/transfer"
INGEST = "arn:aws:lambda:us-east-1:123456789012:function:ingest"


def public_key(comment: str = "district@sis") -> str:
    key = Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{text} {comment}"


@pytest.fixture
def server_id(api_deps: ApiDeps) -> Iterator[str]:
    server = boto3.client("transfer").create_server()["ServerId"]
    api_deps.onboarding = OnboardingDeps(
        directory=DynamoDistrictDirectory(TABLE),
        secrets=SecretsManagerWriter(),
        sftp=TransferSftpUsers(server, ROLE, RAW),
        schedules=SchedulerPullSchedules("stack", INGEST, ROLE, None),
        secret_prefix="stack",
    )
    yield server


def request(
    method: str,
    path: str,
    body: Any = None,
    claims: dict[str, Any] = OPERATOR,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": None,
        "pathParameters": params,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"authorizer": {"claims": claims}, "path": path, "httpMethod": method},
    }


def audited(deps: ApiDeps, district_id: str) -> list[str]:
    """The district's audited actions (entries of one frozen clock tick, so in any order)."""
    return sorted(e.action for e in deps.repo.list_audit(district_id))


def on_server(server_id: str, username: str) -> bool:
    try:
        boto3.client("transfer").describe_user(ServerId=server_id, UserName=username)
    except ClientError:
        return False
    return True


def district(**overrides: Any) -> dict[str, Any]:
    return {
        "district_id": "d7",
        "name": "Lakeside USD",
        "time_zone": "America/Chicago",
        "admin_emails": ["it@lakeside.example.org"],
        "school_ids": ["100", "200"],
        "holds": {"mass_removal_percent": 5},
        **overrides,
    }


def onboard(handler_module: Any, **overrides: Any) -> Any:
    return invoke(handler_module, request("POST", "/operator/districts", district(**overrides)))


def test_onboarding_stores_settings_profile_and_audits_it(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    response = onboard(handler_module)

    assert response.status == 201, response.text
    settings = api_deps.repo.get_settings("d7")
    assert (settings.name, settings.school_ids, settings.admin_emails) == (
        "Lakeside USD",
        ["100", "200"],
        ["it@lakeside.example.org"],
    )
    assert settings.holds.mass_removal_percent == 5
    assert response.json["profile"]["time_zone"] == "America/Chicago"
    assert response.json["profile"]["status"] == "active"
    (entry,) = api_deps.repo.list_audit("d7")
    assert (entry.action, entry.actor) == ("district_onboarded", "ops@vendor.example.com")


def test_a_second_onboarding_of_the_district_is_a_conflict(server_id: str, handler_module: Any) -> None:
    onboard(handler_module)

    response = onboard(handler_module, name="Other")

    assert response.status == 409
    assert "already onboarded" in response.json["message"]


def test_a_district_admin_cannot_onboard(server_id: str, handler_module: Any) -> None:
    response = invoke(
        handler_module, request("POST", "/operator/districts", district(district_id="d1"), claims=ADMIN_D1)
    )

    assert response.status == 403


def test_an_unknown_time_zone_is_refused_by_name(server_id: str, handler_module: Any) -> None:
    response = onboard(handler_module, time_zone="Mars/Olympus")

    assert response.status == 422
    assert "not an IANA time zone: 'Mars/Olympus'" in response.text


def test_source_credentials_go_to_secrets_manager_and_settings_name_the_secret(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    response = onboard(
        handler_module,
        source={"kind": "clever", "base_url": "http://127.0.0.1:9"},
        credentials={"token": "district-token"},
        pull_times=["03:30"],
    )

    assert response.status == 201, response.text
    assert "district-token" not in response.text
    source = api_deps.repo.get_settings("d7").source
    assert source.kind == "clever" and source.secret_id == "stack/districts/d7/clever"
    stored = boto3.client("secretsmanager").get_secret_value(SecretId="stack/districts/d7/clever")
    assert json.loads(stored["SecretString"]) == {"token": "district-token"}
    (schedule,) = boto3.client("scheduler").list_schedules(NamePrefix="stack-pull-d7")["Schedules"]
    assert schedule["Name"] == "stack-pull-d7-0330"
    detail = boto3.client("scheduler").get_schedule(Name="stack-pull-d7-0330")
    assert (detail["ScheduleExpression"], detail["ScheduleExpressionTimezone"]) == (
        "cron(30 3 * * ? *)",
        "America/Chicago",
    )
    assert json.loads(detail["Target"]["Input"])["district_id"] == "d7"


def test_a_pulled_source_without_credentials_or_secret_is_refused(
    server_id: str, handler_module: Any
) -> None:
    response = onboard(handler_module, source={"kind": "clever"})

    assert response.status == 422
    assert "needs its credentials" in response.text


def test_an_sftp_user_gets_a_logical_home_in_its_district_inbox(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(handler_module)
    key = public_key()

    response = invoke(
        handler_module,
        request(
            "POST",
            "/operator/districts/d7/sftp-users",
            {"username": "lakeside-sis", "public_keys": [key]},
            params={"district_id": "d7"},
        ),
    )

    assert response.status == 201, response.text
    assert response.json["home"] == "inbox/d7/"
    user = boto3.client("transfer").describe_user(ServerId=server_id, UserName="lakeside-sis")["User"]
    assert user["HomeDirectoryType"] == "LOGICAL"
    assert user["HomeDirectoryMappings"] == [{"Entry": "/", "Target": f"/{RAW}/inbox/d7"}]
    assert user["Role"] == ROLE
    assert [k["SshPublicKeyBody"] for k in user["SshPublicKeys"]] == [" ".join(key.split()[:2])]
    assert api_deps.onboarding is not None
    (record,) = api_deps.onboarding.directory.list_sftp_users("d7")
    assert record.username == "lakeside-sis"
    assert audited(api_deps, "d7") == ["district_onboarded", "sftp_user_added"]


def test_an_sftp_user_name_is_unique_across_districts(server_id: str, handler_module: Any) -> None:
    onboard(handler_module, sftp_users=[{"username": "shared-name", "public_keys": [public_key()]}])

    response = onboard(
        handler_module,
        district_id="d8",
        sftp_users=[{"username": "shared-name", "public_keys": [public_key()]}],
    )

    assert response.status == 409
    assert "shared-name is taken" in response.json["message"]


def test_a_key_that_is_not_an_ssh_public_key_is_refused(server_id: str, handler_module: Any) -> None:
    onboard(handler_module)

    response = invoke(
        handler_module,
        request(
            "POST",
            "/operator/districts/d7/sftp-users",
            {"username": "lakeside-sis", "public_keys": ["ssh-ed25519 bm90IGEga2V5"]},
            params={"district_id": "d7"},
        ),
    )

    assert response.status == 422
    assert "is not a ssh-ed25519 key" in response.text


def test_removing_an_sftp_user_deletes_it_from_the_server_and_the_records(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(handler_module, sftp_users=[{"username": "lakeside-sis", "public_keys": [public_key()]}])

    response = invoke(
        handler_module,
        request(
            "DELETE",
            "/operator/districts/d7/sftp-users/lakeside-sis",
            params={"district_id": "d7", "username": "lakeside-sis"},
        ),
    )

    assert response.status == 200, response.text
    assert not on_server(server_id, "lakeside-sis")
    assert api_deps.onboarding is not None
    assert api_deps.onboarding.directory.list_sftp_users("d7") == []
    assert audited(api_deps, "d7") == ["district_onboarded", "sftp_user_added", "sftp_user_removed"]


def test_another_districts_sftp_user_is_not_found(server_id: str, handler_module: Any) -> None:
    onboard(handler_module, sftp_users=[{"username": "lakeside-sis", "public_keys": [public_key()]}])
    onboard(handler_module, district_id="d8")

    response = invoke(
        handler_module,
        request(
            "DELETE",
            "/operator/districts/d8/sftp-users/lakeside-sis",
            params={"district_id": "d8", "username": "lakeside-sis"},
        ),
    )

    assert response.status == 404


def test_deactivation_removes_logins_and_schedules_and_stops_pulls(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(
        handler_module,
        source={"kind": "clever", "base_url": "http://127.0.0.1:9"},
        credentials={"token": "t"},
        pull_times=["02:00"],
        sftp_users=[{"username": "lakeside-sis", "public_keys": [public_key()]}],
    )

    response = invoke(
        handler_module,
        request("POST", "/operator/districts/d7/deactivate", params={"district_id": "d7"}),
    )

    assert response.status == 200, response.text
    assert response.json["profile"]["status"] == "deactivated"
    assert response.json["sftp_users"] == []
    assert not on_server(server_id, "lakeside-sis")
    assert boto3.client("scheduler").list_schedules(NamePrefix="stack-pull-d7")["Schedules"] == []
    assert api_deps.repo.get_settings("d7").source.kind == "sftp_push"
    (entry,) = [e for e in api_deps.repo.list_audit("d7") if e.action == "district_deactivated"]
    assert entry.details == {"sftp_users_removed": ["lakeside-sis"], "source_was": "clever"}


def test_pull_now_starts_a_pull_sync_of_a_pulled_district(
    api_deps: ApiDeps, server_id: str, workflow: RecordingWorkflow, handler_module: Any
) -> None:
    onboard(
        handler_module,
        source={"kind": "clever", "base_url": "http://127.0.0.1:9"},
        credentials={"token": "t"},
    )

    response = invoke(
        handler_module, request("POST", "/operator/districts/d7/pull", params={"district_id": "d7"})
    )

    assert response.status == 202, response.text
    sync_id = response.json["sync_id"]
    payload = workflow.started[sync_id]
    assert (payload["district_id"], payload["pull"], payload["trigger"]) == ("d7", True, "schedule")
    record = api_deps.repo.get_sync("d7", sync_id)
    assert record is not None and record.status == "waiting"
    assert audited(api_deps, "d7") == ["district_onboarded", "pull_requested"]


def test_pull_now_of_an_upload_district_is_a_conflict(server_id: str, handler_module: Any) -> None:
    onboard(handler_module)

    response = invoke(
        handler_module, request("POST", "/operator/districts/d7/pull", params={"district_id": "d7"})
    )

    assert response.status == 409
    assert "nothing to pull" in response.json["message"]


def test_without_onboarding_adapters_the_routes_answer_503(api_deps: ApiDeps, handler_module: Any) -> None:
    response = invoke(handler_module, request("GET", "/operator/districts"))

    assert response.status == 503


# --- one time zone: the settings own it ------------------------------------------------------------


def patch_settings(body: dict[str, Any], claims: dict[str, Any] = OPERATOR) -> dict[str, Any]:
    event = request("PATCH", "/districts/d7/settings", body, claims=claims, params={"district_id": "d7"})
    event["resource"] = "/districts/{district_id}/settings"
    return event


def test_the_onboarded_time_zone_is_the_settings_time_zone(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(handler_module)

    assert api_deps.repo.get_settings("d7").time_zone == "America/Chicago"


def test_a_settings_change_of_the_time_zone_is_what_the_operator_sees_and_the_pulls_follow(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(
        handler_module,
        source={"kind": "clever", "base_url": "http://127.0.0.1:9"},
        credentials={"token": "t"},
        pull_times=["03:30"],
    )

    patched = invoke(handler_module, patch_settings({"time_zone": "America/Denver"}))
    shown = invoke(handler_module, request("GET", "/operator/districts/d7", params={"district_id": "d7"}))
    listed = invoke(handler_module, request("GET", "/operator/districts"))

    assert patched.status == 200, patched.text
    assert shown.json["profile"]["time_zone"] == shown.json["settings"]["time_zone"] == "America/Denver"
    assert [p["time_zone"] for p in listed.json["districts"]] == ["America/Denver"]
    assert DynamoDistrictDirectory(TABLE).get_profile("d7").time_zone == "America/Denver"  # type: ignore[union-attr]
    detail = boto3.client("scheduler").get_schedule(Name="stack-pull-d7-0330")
    assert detail["ScheduleExpressionTimezone"] == "America/Denver"


def test_an_unknown_time_zone_in_the_settings_is_422_with_a_hint(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(handler_module)

    response = invoke(handler_module, patch_settings({"time_zone": "america/denver"}))

    assert response.status == 422, response.text
    (error,) = response.json["detail"]
    assert error["loc"] == ["time_zone"]
    assert "did you mean America/Denver?" in error["msg"]
    assert api_deps.repo.get_settings("d7").time_zone == "America/Chicago"


def test_a_district_whose_profile_alone_kept_the_zone_has_it_moved_into_its_settings_on_read(
    api_deps: ApiDeps, server_id: str, handler_module: Any
) -> None:
    onboard(handler_module)
    legacy = api_deps.repo.get_settings("d7").model_dump(mode="json", exclude_unset=True)
    del legacy["time_zone"]  # as onboarding wrote the settings before they owned the zone
    api_deps.repo.put_settings(DistrictSettings.model_validate(legacy))

    listed = invoke(handler_module, request("GET", "/operator/districts"))

    assert [p["time_zone"] for p in listed.json["districts"]] == ["America/Chicago"]
    assert api_deps.repo.get_settings("d7").time_zone == "America/Chicago"
    (entry,) = [e for e in api_deps.repo.list_audit("d7") if e.action == "settings_updated"]
    assert entry.details["changes"] == {"time_zone": {"old": "UTC", "new": "America/Chicago"}}
    assert entry.details["moved_from"] == "district profile"
