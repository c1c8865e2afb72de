"""The pipeline's single DynamoDB table: settings, syncs, the district lock, decision tokens,
audit entries, per-school status and idempotency markers (layout in ``docs/architecture.md``).

The lock and the decision tokens are changed with conditional writes only, so two syncs can never
both own a district and a decision can never be taken twice.
"""

from __future__ import annotations

import builtins
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic_core import to_jsonable_python

from rostersync.aws import clients
from rostersync.aws.codec import marshal, unmarshal
from rostersync.aws.sync_index import SyncIndex, sync_index_keys
from rostersync.pipeline.models import (
    AuditEntry,
    DecisionToken,
    Lock,
    LockState,
    SchoolStatus,
    SyncRecord,
)
from rostersync.settings import DistrictSettings

# The item codec (rostersync.aws.codec), under the names this module's users import.
_marshal = marshal
_unmarshal = unmarshal

GSI1 = "gsi1"
SETTINGS_INDEX_PK = "SETTINGS"
MARKER_TTL = timedelta(days=90)


def _failed_condition(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


# Attribute names a condition may use as ``#name`` (some are DynamoDB reserved words).
_CONDITION_NAMES = ("pk", "owner", "state", "status")


def _condition(condition: str, values: dict[str, Any]) -> dict[str, Any]:
    """The ConditionExpression arguments: ``#name`` placeholders resolved, ``values`` given
    without their leading colon (``me=owner`` for ``:me``)."""
    kwargs: dict[str, Any] = {"ConditionExpression": condition}
    names = {f"#{n}": n for n in _CONDITION_NAMES if f"#{n}" in condition}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = _marshal({f":{k}": v for k, v in values.items()})
    return kwargs


def district_pk(district_id: str) -> str:
    return f"DISTRICT#{district_id}"


class DynamoRepository:
    """The adapter of :class:`rostersync.pipeline.ports.Repository` on table ``table_name``."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client
        self._sync_index = SyncIndex(table_name, lambda: self.client)

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.dynamodb()

    # -- primitives ------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name, Key=_marshal({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return _unmarshal(item) if item else None

    def _put(self, item: dict[str, Any], condition: str | None = None, **values: Any) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": _marshal(item)}
        if condition:
            kwargs |= _condition(condition, values)
        try:
            self.client.put_item(**kwargs)
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def _update(
        self, pk: str, sk: str, fields: dict[str, Any], condition: str | None = None, **values: Any
    ) -> bool:
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        attr_values = {f":f{i}": value for i, value in enumerate(fields.values())}
        sets = [f"#f{i} = :f{i}" for i, value in enumerate(fields.values()) if value is not None]
        removes = [f"#f{i}" for i, value in enumerate(fields.values()) if value is None]
        expression = ""
        if sets:
            expression += "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _marshal({"pk": pk, "sk": sk}),
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
        }
        field_values = {k: v for k, v in attr_values.items() if v is not None}
        if condition:
            extra = _condition(condition, values)
            kwargs["ConditionExpression"] = condition
            names |= extra.get("ExpressionAttributeNames", {})
            field_values = _marshal(field_values) | extra.get("ExpressionAttributeValues", {})
        elif field_values:
            field_values = _marshal(field_values)
        if field_values:
            kwargs["ExpressionAttributeValues"] = field_values
        try:
            self.client.update_item(**kwargs)
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def _delete(self, pk: str, sk: str, condition: str | None = None, **values: Any) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Key": _marshal({"pk": pk, "sk": sk})}
        if condition:
            kwargs |= _condition(condition, values)
        try:
            self.client.delete_item(**kwargs)
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def _query(self, pk: str, sk_prefix: str) -> builtins.list[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        items: builtins.list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues=_marshal({":pk": pk, ":sk": sk_prefix}),
        ):
            items.extend(_unmarshal(i) for i in page.get("Items", []))
        return items

    # -- settings --------------------------------------------------------------------------------

    def get_settings(self, district_id: str) -> DistrictSettings:
        """The district's settings; the catalogue defaults when none are stored."""
        item = self._get(district_pk(district_id), "SETTINGS")
        if item is None or "settings" not in item:
            return DistrictSettings(district_id=district_id)
        return DistrictSettings.model_validate_json(item["settings"])

    def put_settings(self, settings: DistrictSettings) -> None:
        self._put(
            {
                "pk": district_pk(settings.district_id),
                "sk": "SETTINGS",
                # gsi1 lists every district's settings (the nightly schedule finds pulled sources).
                "gsi1pk": SETTINGS_INDEX_PK,
                "gsi1sk": district_pk(settings.district_id),
                # Only what the district set, so "not set" (use the deployment default) survives.
                "settings": json.dumps(
                    settings.model_dump(mode="json", exclude_unset=True)
                    | {"district_id": settings.district_id}
                ),
            }
        )

    def list_settings(self) -> builtins.list[DistrictSettings]:
        """Every district's stored settings (settings written before gsi1 carried them are not
        listed until they are saved again)."""
        paginator = self.client.get_paginator("query")
        found = []
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=_marshal({":pk": SETTINGS_INDEX_PK}),
        ):
            for item in page.get("Items", []):
                settings = _unmarshal(item).get("settings")
                if settings:
                    found.append(DistrictSettings.model_validate_json(settings))
        return found

    # -- syncs -----------------------------------------------------------------------------------

    @staticmethod
    def _sync_item(record: SyncRecord) -> dict[str, Any]:
        item = record.model_dump(mode="json")
        item |= {
            "pk": district_pk(record.district_id),
            "sk": f"SYNC#{record.sync_id}",
            "gsi1pk": f"SYNC#{record.sync_id}",
            "gsi1sk": district_pk(record.district_id),
        }
        return item | sync_index_keys(item)

    def put_sync(self, record: SyncRecord) -> None:
        self._put(self._sync_item(record))

    def create_sync(self, record: SyncRecord) -> bool:
        """Create the record unless the sync already has one (False then; nothing changed)."""
        return self._put(self._sync_item(record), "attribute_not_exists(#pk)")

    def get_sync(self, district_id: str, sync_id: str) -> SyncRecord | None:
        item = self._get(district_pk(district_id), f"SYNC#{sync_id}")
        return SyncRecord.model_validate(item) if item else None

    def find_sync(self, sync_id: str) -> SyncRecord | None:
        response = self.client.query(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=_marshal({":pk": f"SYNC#{sync_id}"}),
        )
        items = response.get("Items", [])
        return SyncRecord.model_validate(_unmarshal(items[0])) if items else None

    def list_syncs(self, district_id: str) -> builtins.list[SyncRecord]:
        """Every sync of the district (its whole history: prefer the two below)."""
        return [SyncRecord.model_validate(i) for i in self._query(district_pk(district_id), "SYNC#")]

    def ensure_sync_index(self, district_id: str) -> int:
        """Write the gsi2 keys on the district's sync records written before gsi2 existed, once
        (a marker item says it was done, so later calls cost one read); the number written. The
        scheduled tick calls it for every district."""
        marker = (district_pk(district_id), "INDEX#gsi2")
        if self._get(*marker) is not None:
            return 0
        written = 0
        for item in self._query(district_pk(district_id), "SYNC#"):
            if "gsi2sk" in item:
                continue
            # Only where the keys are still missing: a record updated meanwhile has its own.
            if self._update(item["pk"], item["sk"], sync_index_keys(item), "attribute_not_exists(gsi2sk)"):
                written += 1
        self._put({"pk": marker[0], "sk": marker[1], "district_id": district_id, "written": written})
        return written

    def list_open_holds(self, district_id: str) -> builtins.list[SyncRecord]:
        """The district's syncs whose hold is open, newest first: one query of gsi2, whatever
        the length of its history (:meth:`SyncIndex.open_holds`)."""
        return self._sync_index.open_holds(district_id)

    def recent_syncs(
        self, district_id: str, limit: int, *, status: str | None = None, hide: str | None = "coalesced"
    ) -> builtins.list[SyncRecord]:
        """The district's ``limit`` newest syncs, never its whole history (:meth:`SyncIndex.recent`)."""
        return self._sync_index.recent(district_id, limit, status=status, hide=hide)

    def update_sync(self, district_id: str, sync_id: str, now: datetime, **fields: Any) -> None:
        """Set ``fields`` on the sync record (creating a bare one if missing); None removes a field."""
        values = {k: to_jsonable_python(v) for k, v in fields.items()}
        values["updated_at"] = now.isoformat()
        pk, sk = district_pk(district_id), f"SYNC#{sync_id}"
        existing = self._get(pk, sk)
        if "keys" in values and existing is not None:
            # S3 keys accumulate step by step; one step's keys never drop another's.
            values["keys"] = {**(existing.get("keys") or {}), **(values["keys"] or {})}
        if existing is None:
            base = {
                "district_id": district_id,
                "sync_id": sync_id,
                "status": values.get("status", "running"),
                "created_at": now.isoformat(),
            }
            item = base | {k: v for k, v in values.items() if v is not None}
            self._put(
                item
                | {"pk": pk, "sk": sk, "gsi1pk": f"SYNC#{sync_id}", "gsi1sk": pk}
                | sync_index_keys(item),
                "attribute_not_exists(#pk)",
            )
            return
        self._update(pk, sk, values | sync_index_keys(existing | values))

    # -- lock ------------------------------------------------------------------------------------

    def get_lock(self, district_id: str) -> Lock | None:
        item = self._get(district_pk(district_id), "LOCK")
        return Lock.model_validate(item) if item else None

    def acquire_lock(
        self, district_id: str, sync_id: str, now: datetime, execution_arn: str | None = None
    ) -> bool:
        """Take the free lock (or keep our own): True if ``sync_id`` owns it now, as ``active``.

        The lock records ``execution_arn``, so a lock whose execution no longer runs can be
        recognised as stranded (:meth:`take_over_stranded_lock`)."""
        return self._put(
            {
                "pk": district_pk(district_id),
                "sk": "LOCK",
                "district_id": district_id,
                "owner": sync_id,
                "state": "active",
                "acquired_at": now.isoformat(),
                "execution_arn": execution_arn,
            },
            "attribute_not_exists(#pk) OR #owner = :me",
            me=sync_id,
        )

    def take_over_stranded_lock(
        self, district_id: str, old_owner: str, new_owner: str, now: datetime, execution_arn: str | None
    ) -> bool:
        """Move the lock of ``old_owner`` (whose execution has ended) to ``new_owner``; False if
        the lock changed meanwhile (conditional on the owner, whatever its state)."""
        return self._put(
            {
                "pk": district_pk(district_id),
                "sk": "LOCK",
                "district_id": district_id,
                "owner": new_owner,
                "state": "active",
                "acquired_at": now.isoformat(),
                "execution_arn": execution_arn,
            },
            "#owner = :old",
            old=old_owner,
        )

    def take_over_lock(
        self,
        district_id: str,
        old_owner: str,
        new_owner: str,
        now: datetime,
        execution_arn: str | None = None,
    ) -> bool:
        """Move a lock held by a *held* sync to ``new_owner``; False if it changed meanwhile."""
        return self._put(
            {
                "pk": district_pk(district_id),
                "sk": "LOCK",
                "district_id": district_id,
                "owner": new_owner,
                "state": "active",
                "acquired_at": now.isoformat(),
                "execution_arn": execution_arn,
            },
            "#owner = :old AND #state = :held",
            old=old_owner,
            held="held",
        )

    def set_lock_state(self, district_id: str, owner: str, state: LockState) -> bool:
        return self._update(district_pk(district_id), "LOCK", {"state": state}, "#owner = :me", me=owner)

    def release_lock(self, district_id: str, owner: str) -> bool:
        """Delete the lock only if ``owner`` still holds it (a superseded sync holds it no more)."""
        return self._delete(district_pk(district_id), "LOCK", "#owner = :me", me=owner)

    # -- decision tokens -------------------------------------------------------------------------

    @staticmethod
    def new_hold_id() -> str:
        return secrets.token_urlsafe(18)

    def put_token(self, token: DecisionToken) -> None:
        item = token.model_dump(mode="json") | {
            "pk": f"HOLD#{token.hold_id}",
            "sk": "TOKEN",
            "task_token": token.task_token,
        }
        if not self._put(item, "attribute_not_exists(#pk)"):
            raise ValueError("hold id already in use")

    def get_token(self, hold_id: str) -> DecisionToken | None:
        item = self._get(f"HOLD#{hold_id}", "TOKEN")
        return DecisionToken.model_validate(item) if item else None

    def decide_token(self, hold_id: str, action: str, actor: str | None, now: datetime) -> bool:
        """Mark an open token decided; False if it was not open (a second decision)."""
        return self._update(
            f"HOLD#{hold_id}",
            "TOKEN",
            {"status": "decided", "action": action, "decided_by": actor, "decided_at": now.isoformat()},
            "attribute_exists(#pk) AND #status = :open",
            open="open",
        )

    def token_sent(self, hold_id: str, now: datetime) -> None:
        """Record that the decided token's decision reached the execution (SendTaskSuccess)."""
        self._update(f"HOLD#{hold_id}", "TOKEN", {"sent_at": now.isoformat()}, "attribute_exists(#pk)")

    def close_token(self, hold_id: str, status: str) -> None:
        """Mark a still-open token ``status`` (e.g. ``expired``); a decided token is left alone."""
        self._update(
            f"HOLD#{hold_id}",
            "TOKEN",
            {"status": status},
            "attribute_exists(#pk) AND #status = :open",
            open="open",
        )

    # -- audit -----------------------------------------------------------------------------------

    def put_audit(self, entry: AuditEntry) -> None:
        item = entry.model_dump(mode="json") | {
            "pk": district_pk(entry.district_id),
            "sk": f"AUDIT#{entry.at.isoformat()}#{secrets.token_hex(4)}",
        }
        self._put(item)

    def list_audit(self, district_id: str) -> builtins.list[AuditEntry]:
        return [AuditEntry.model_validate(i) for i in self._query(district_pk(district_id), "AUDIT#")]

    # -- school status ---------------------------------------------------------------------------

    def put_school_status(self, status: SchoolStatus) -> None:
        item = status.model_dump(mode="json") | {
            "pk": district_pk(status.district_id),
            "sk": f"SCHOOL#{status.school_id}",
        }
        self._put(item)

    def list_school_status(self, district_id: str) -> builtins.list[SchoolStatus]:
        return [SchoolStatus.model_validate(i) for i in self._query(district_pk(district_id), "SCHOOL#")]

    # -- idempotency markers ---------------------------------------------------------------------

    def claim(self, district_id: str, marker: str, now: datetime, owner: str | None = None) -> bool:
        """Create the marker ``marker`` once; False if it exists (the side effect already ran),
        unless it was claimed by the same ``owner`` (a retried step)."""
        item = {
            "pk": district_pk(district_id),
            "sk": f"MARK#{marker}",
            "owner": owner,
            "claimed_at": now.isoformat(),
            "expires_at": int((now + MARKER_TTL).timestamp()),
        }
        if owner is None:
            return self._put(item, "attribute_not_exists(#pk)")
        return self._put(item, "attribute_not_exists(#pk) OR #owner = :owner", owner=owner)

    def unclaim(self, district_id: str, marker: str) -> None:
        self._delete(district_pk(district_id), f"MARK#{marker}")

    def claim_owner(self, district_id: str, marker: str) -> str | None:
        """Who holds the claim ``marker`` (None: nobody, or a claim made without an owner)."""
        item = self._get(district_pk(district_id), f"MARK#{marker}")
        return str(item["owner"]) if item and item.get("owner") else None

    def take_over_claim(
        self, district_id: str, marker: str, now: datetime, owner: str, previous_owner: str
    ) -> bool:
        """Move the claim ``marker`` from ``previous_owner`` to ``owner``; False if it is no
        longer ``previous_owner``'s (conditional, so two takers cannot both win)."""
        item = {
            "pk": district_pk(district_id),
            "sk": f"MARK#{marker}",
            "owner": owner,
            "claimed_at": now.isoformat(),
            "expires_at": int((now + MARKER_TTL).timestamp()),
        }
        return self._put(item, "#owner = :previous", previous=previous_owner)
