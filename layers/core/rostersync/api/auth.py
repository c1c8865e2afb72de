"""Who is calling, from the claims API Gateway's Cognito authorizer verified, and what they may do.

The authorizer (``template.yaml``: a Cognito user pool authorizer, the API's default) verifies
the ID token and hands its claims to the function in ``requestContext.authorizer.claims``. The
caller's role is a user pool group (``operator``: every district; ``district_admin``: the
districts listed in the custom attribute ``custom:districts``). API Gateway passes list claims as
strings (``"a,b"``, or ``"[a, b]"``), so both shapes are read here. Nothing here knows HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

OPERATOR_GROUP = "operator"
DISTRICT_ADMIN_GROUP = "district_admin"
GROUPS_CLAIM = "cognito:groups"
DISTRICTS_CLAIM = "custom:districts"

Role = Literal["operator", "district_admin"]


class NotAuthenticatedError(Exception):
    """No verified identity reached the function (the authorizer should have refused it)."""


class ForbiddenError(Exception):
    """The caller may not act for that district, or has no role at all."""


class Caller(BaseModel):
    """The verified identity behind a request and the districts it may act for."""

    model_config = ConfigDict(frozen=True)

    sub: str
    email: str | None = None
    username: str | None = None
    role: Role
    districts: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        """What the audit log and emails show: the email, else the user name, else the sub."""
        return self.email or self.username or self.sub

    def may_act_for(self, district_id: str) -> bool:
        return self.role == OPERATOR_GROUP or district_id in self.districts


def list_claim(value: Any) -> list[str]:
    """A list-valued claim as API Gateway passes it: a list, ``"a,b"``, ``"[a, b]"`` or ``"a b"``."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        items = [str(v) for v in value]
    else:
        items = re.split(r"[,\s]+", str(value).strip().strip("[]"))
    return [item.strip().strip("\"'") for item in items if item.strip().strip("\"'")]


def caller_from_claims(claims: Mapping[str, Any] | None) -> Caller:
    """The caller of a request; :class:`NotAuthenticatedError` without a subject,
    :class:`ForbiddenError` without a role group."""
    if not claims or not claims.get("sub"):
        raise NotAuthenticatedError("no verified identity")
    groups = set(list_claim(claims.get(GROUPS_CLAIM)))
    role: Role
    if OPERATOR_GROUP in groups:
        role = "operator"
    elif DISTRICT_ADMIN_GROUP in groups:
        role = "district_admin"
    else:
        raise ForbiddenError("the caller is neither an operator nor a district admin")
    return Caller(
        sub=str(claims["sub"]),
        email=str(claims["email"]) if claims.get("email") else None,
        username=str(claims.get("cognito:username") or claims.get("username") or "") or None,
        role=role,
        districts=frozenset(list_claim(claims.get(DISTRICTS_CLAIM))),
    )


def require_district(caller: Caller, district_id: str) -> None:
    """:class:`ForbiddenError` unless ``caller`` may act for ``district_id``."""
    if not caller.may_act_for(district_id):
        raise ForbiddenError(f"not allowed to act for district {district_id}")
