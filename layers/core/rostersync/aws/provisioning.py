"""AWS adapters of onboarding: Transfer Family users, Secrets Manager, EventBridge Scheduler.

* :class:`TransferSftpUsers`: ``CreateUser`` on the stack's server with the Transfer role and a
  LOGICAL home directory mapping ``/`` to ``/<raw bucket>/inbox/<district_id>``, so the user sees
  its district's inbox as ``/`` and nothing else; a session policy narrows the role to that
  prefix as a second fence. Further keys are imported with ``ImportSshPublicKey``.
* :class:`SecretsManagerWriter`: creates or overwrites a source's credentials secret.
* :class:`SchedulerPullSchedules`: one schedule group entry per district whose pulls run at its own
  local times (``cron(M H * * ? *)`` in its time zone), targeting the ingest function with the
  same input as the nightly schedule plus the district.

:func:`build_onboarding` wires them from the API function's variables (``template.yaml``):
``SFTP_SERVER_ID`` and ``TRANSFER_ROLE_ARN`` (empty server id: users are recorded only),
``SECRET_PREFIX``, ``INGEST_FUNCTION_ARN``, ``PULL_SCHEDULE_ROLE_ARN`` and
``PULL_SCHEDULE_DLQ_ARN`` (empty: no per-district schedules).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import time
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from rostersync.api.onboarding_ports import OnboardingDeps
from rostersync.aws import clients
from rostersync.aws.districts import DynamoDistrictDirectory
from rostersync.pipeline.config import PipelineConfig


class OnboardingConfig(BaseModel):
    """The API function's onboarding variables (empty values count as unset)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sftp_server_id: str | None = Field(None, alias="SFTP_SERVER_ID")
    transfer_role_arn: str | None = Field(None, alias="TRANSFER_ROLE_ARN")
    secret_prefix: str = Field("rostersync", alias="SECRET_PREFIX")
    ingest_function_arn: str | None = Field(None, alias="INGEST_FUNCTION_ARN")
    pull_schedule_role_arn: str | None = Field(None, alias="PULL_SCHEDULE_ROLE_ARN")
    pull_schedule_dlq_arn: str | None = Field(None, alias="PULL_SCHEDULE_DLQ_ARN")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OnboardingConfig:
        fields = {f.alias for f in cls.model_fields.values() if f.alias}
        return cls.model_validate({k: v for k, v in environ.items() if k in fields and v != ""})


def home_directory_mappings(raw_bucket: str, district_id: str) -> list[dict[str, str]]:
    return [{"Entry": "/", "Target": f"/{raw_bucket}/inbox/{district_id}"}]


def session_policy(raw_bucket: str, district_id: str) -> str:
    """The user's session policy: the Transfer role, narrowed to the district's own prefix."""
    bucket = f"arn:aws:s3:::{raw_bucket}"
    prefix = f"inbox/{district_id}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListOwnInbox",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket,
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}},
                },
                {
                    "Sid": "BucketLocation",
                    "Effect": "Allow",
                    "Action": "s3:GetBucketLocation",
                    "Resource": bucket,
                },
                {
                    "Sid": "OwnInboxObjects",
                    "Effect": "Allow",
                    "Action": [
                        "s3:PutObject",
                        "s3:GetObject",
                        "s3:GetObjectVersion",
                        "s3:DeleteObject",
                        "s3:DeleteObjectVersion",
                    ],
                    "Resource": f"{bucket}/{prefix}/*",
                },
            ],
        }
    )


class TransferSftpUsers:
    """Service-managed users of one Transfer Family server."""

    def __init__(self, server_id: str, role_arn: str, raw_bucket: str, client: Any = None) -> None:
        self.server_id, self.role_arn, self.raw_bucket = server_id, role_arn, raw_bucket
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.client("transfer")

    def create_user(self, username: str, district_id: str, public_keys: list[str]) -> None:
        self.client.create_user(
            ServerId=self.server_id,
            UserName=username,
            Role=self.role_arn,
            HomeDirectoryType="LOGICAL",
            HomeDirectoryMappings=home_directory_mappings(self.raw_bucket, district_id),
            Policy=session_policy(self.raw_bucket, district_id),
            SshPublicKeyBody=public_keys[0],
            Tags=[{"Key": "rostersync:district", "Value": district_id}],
        )
        for key in public_keys[1:]:
            self.client.import_ssh_public_key(
                ServerId=self.server_id, UserName=username, SshPublicKeyBody=key
            )

    def delete_user(self, username: str) -> None:
        try:
            self.client.delete_user(ServerId=self.server_id, UserName=username)
        except ClientError as exc:
            # AWS answers ResourceNotFoundException; moto (the local stack, tests) UserNotFound.
            if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFoundException", "UserNotFound"):
                raise


class SecretsManagerWriter:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.client("secretsmanager")

    def put_secret(self, name: str, value: dict[str, str], *, description: str) -> str:
        text = json.dumps(value)
        try:
            response = self.client.create_secret(Name=name, SecretString=text, Description=description)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            response = self.client.put_secret_value(SecretId=name, SecretString=text)
        return str(response.get("Name") or name)


SCHEDULE_NAME_MAX = 64


def schedule_expression(at: time) -> str:
    return f"cron({at.minute} {at.hour} * * ? *)"


class SchedulerPullSchedules:
    """``<prefix>-pull-<district>-<HHMM>`` schedules in the default group, one per pull time."""

    def __init__(
        self, prefix: str, ingest_arn: str, role_arn: str, dead_letter_arn: str | None, client: Any = None
    ) -> None:
        self.prefix, self.ingest_arn, self.role_arn = prefix, ingest_arn, role_arn
        self.dead_letter_arn = dead_letter_arn
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.client("scheduler")

    def _name(self, district_id: str, at: time | None = None) -> str:
        base = f"{self.prefix}-pull-{district_id}"
        if len(base) > SCHEDULE_NAME_MAX - 5:  # names are at most 64 characters
            base = f"rostersync-pull-{hashlib.sha256(base.encode()).hexdigest()[:24]}"
        return base if at is None else f"{base}-{at.hour:02d}{at.minute:02d}"

    def put_schedule(self, district_id: str, times: list[time], time_zone: str) -> None:
        self.delete_schedule(district_id)
        target: dict[str, Any] = {
            "Arn": self.ingest_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(
                {
                    "source": "rostersync.scheduler",
                    "district_id": district_id,
                    "scheduled_time": "<aws.scheduler.scheduled-time>",
                }
            ),
            "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        for at in sorted(set(times)):
            self.client.create_schedule(
                Name=self._name(district_id, at),
                ScheduleExpression=schedule_expression(at),
                ScheduleExpressionTimezone=time_zone,
                FlexibleTimeWindow={"Mode": "OFF"},
                Target=target,
                Description=f"rostersync scheduled pull of district {district_id}",
            )

    def delete_schedule(self, district_id: str) -> None:
        base = self._name(district_id)
        names = [
            s["Name"]
            for page in self.client.get_paginator("list_schedules").paginate(NamePrefix=base)
            for s in page.get("Schedules", [])
        ]
        for name in names:
            self.client.delete_schedule(Name=name)


def build_onboarding(config: PipelineConfig, environ: Mapping[str, str] | None = None) -> OnboardingDeps:
    """The onboarding adapters of the deployment (the API function's variables)."""
    settings = OnboardingConfig.from_env(os.environ if environ is None else environ)
    sftp = None
    if settings.sftp_server_id and settings.transfer_role_arn:
        sftp = TransferSftpUsers(settings.sftp_server_id, settings.transfer_role_arn, config.raw_bucket)
    schedules = None
    if settings.ingest_function_arn and settings.pull_schedule_role_arn:
        schedules = SchedulerPullSchedules(
            settings.secret_prefix,
            settings.ingest_function_arn,
            settings.pull_schedule_role_arn,
            settings.pull_schedule_dlq_arn,
        )
    return OnboardingDeps(
        directory=DynamoDistrictDirectory(config.table_name),
        secrets=SecretsManagerWriter(),
        sftp=sftp,
        schedules=schedules,
        secret_prefix=settings.secret_prefix,
    )
