"""The districts' profiles and SFTP users in the district table (onboarding's directory).

Items (layout in ``docs/architecture.md``):

* ``DISTRICT#<id>`` / ``PROFILE``: the profile; ``gsi1pk = PROFILE`` lists every district.
* ``SFTPUSER#<username>`` / ``SFTPUSER``: one SFTP login, written only if the name is free (user
  names are unique on the server, whichever district they belong to); ``gsi1pk = SFTPUSERS``,
  ``gsi1sk = DISTRICT#<id>#<username>`` lists them all or one district's.
"""

from __future__ import annotations

import builtins
from typing import Any

from rostersync.api.onboarding_models import DistrictProfile, SftpUser
from rostersync.aws.repository import GSI1, DynamoRepository, _marshal, _unmarshal, district_pk

PROFILE_INDEX_PK = "PROFILE"
SFTP_USERS_INDEX_PK = "SFTPUSERS"


def _user_pk(username: str) -> str:
    return f"SFTPUSER#{username}"


class DynamoDistrictDirectory:
    """Profiles and SFTP users over the table's primitives (conditional writes)."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self._table = DynamoRepository(table_name, client)

    def _index(self, pk: str, sk_prefix: str | None = None) -> builtins.list[dict[str, Any]]:
        condition = "gsi1pk = :pk" + (" AND begins_with(gsi1sk, :sk)" if sk_prefix else "")
        values = {":pk": pk} | ({":sk": sk_prefix} if sk_prefix else {})
        items: builtins.list[dict[str, Any]] = []
        for page in self._table.client.get_paginator("query").paginate(
            TableName=self._table.table_name,
            IndexName=GSI1,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=_marshal(values),
        ):
            items.extend(_unmarshal(i) for i in page.get("Items", []))
        return items

    # -- profiles --------------------------------------------------------------------------------

    @staticmethod
    def _profile_item(profile: DistrictProfile) -> dict[str, Any]:
        pk = district_pk(profile.district_id)
        return {
            "pk": pk,
            "sk": "PROFILE",
            "gsi1pk": PROFILE_INDEX_PK,
            "gsi1sk": pk,
            "profile": profile.model_dump_json(),
        }

    def get_profile(self, district_id: str) -> DistrictProfile | None:
        item = self._table._get(district_pk(district_id), "PROFILE")
        return DistrictProfile.model_validate_json(item["profile"]) if item else None

    def create_profile(self, profile: DistrictProfile) -> bool:
        return self._table._put(self._profile_item(profile), "attribute_not_exists(#pk)")

    def put_profile(self, profile: DistrictProfile) -> None:
        self._table._put(self._profile_item(profile))

    def list_profiles(self) -> builtins.list[DistrictProfile]:
        return [DistrictProfile.model_validate_json(i["profile"]) for i in self._index(PROFILE_INDEX_PK)]

    # -- SFTP users ------------------------------------------------------------------------------

    def add_sftp_user(self, user: SftpUser) -> bool:
        item = {
            "pk": _user_pk(user.username),
            "sk": "SFTPUSER",
            "gsi1pk": SFTP_USERS_INDEX_PK,
            "gsi1sk": f"{district_pk(user.district_id)}#{user.username}",
            "user": user.model_dump_json(),
        }
        return self._table._put(item, "attribute_not_exists(#pk)")

    def get_sftp_user(self, username: str) -> SftpUser | None:
        item = self._table._get(_user_pk(username), "SFTPUSER")
        return SftpUser.model_validate_json(item["user"]) if item else None

    def remove_sftp_user(self, username: str) -> None:
        self._table._delete(_user_pk(username), "SFTPUSER")

    def list_sftp_users(self, district_id: str | None = None) -> builtins.list[SftpUser]:
        prefix = f"{district_pk(district_id)}#" if district_id is not None else None
        return [SftpUser.model_validate_json(i["user"]) for i in self._index(SFTP_USERS_INDEX_PK, prefix)]
