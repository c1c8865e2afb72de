"""Clever API v3 client: the district's records, page by page, into a :class:`PageWriter`.

Authentication is the district-app bearer token. Lists page by following the ``links`` entry whose
``rel`` is ``next`` (a relative URI with ``starting_after``) until there is none; a page may be
empty before the end, so an empty page never stops the walk by itself. Each list item is
``{"data": {...}, "uri": ...}``: the ``data`` object is what is stored. The district record is read
first: ``state: "error"`` means Clever itself cannot sync the district (-> ``disconnected``), and a
``pause_start``..``pause_end`` window containing today (or ``state: "paused"``) means the district
paused syncing (-> the sync ends ``paused``). Users are read per role (student, teacher, staff,
contact); a contact's ``roles.contact.student_relationships`` carry its students with
``relationship`` and ``type``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urljoin

from rostersync.connectors.http import HttpClient
from rostersync.connectors.pages import PageWriter
from rostersync.pipeline.ports import DisconnectedError, SourcePausedError

KIND = "clever"
LISTS = ("schools", "terms", "courses", "sections")
USER_ROLES = ("student", "teacher", "staff", "contact")
# Safety net against a source whose "next" link never ends.
MAX_PAGES = 100_000


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def check_district(district: dict[str, Any], today: date) -> None:
    """Raise for a district Clever reports in error or paused today."""
    state = str(district.get("state") or "").lower()
    name = district.get("name") or district.get("id") or "the district"
    if state == "error":
        detail = district.get("error") or "no detail given"
        raise DisconnectedError(f"Clever reports an error state for {name}: {detail}")
    start, end = _day(district.get("pause_start")), _day(district.get("pause_end"))
    if start is not None and today >= start and (end is None or today <= end):
        until = f" until {end.isoformat()}" if end else ""
        raise SourcePausedError(f"Clever sync of {name} is paused from {start.isoformat()}{until}")
    if state == "paused":
        raise SourcePausedError(f"Clever reports {name} as paused")


class CleverClient:
    """Reads one district through Clever's Data API v3 (``base_url`` without the version)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        http: HttpClient | None = None,
        *,
        api_version: str = "v3.0",
        page_size: int = 10000,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.api_version = api_version
        self.page_size = page_size
        self.http = http or HttpClient(source="Clever")
        self.http.session.headers["Authorization"] = f"Bearer {token}"
        self.http.session.headers["Accept"] = "application/json"

    def _url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def pages(self, resource: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
        """The ``data`` objects of each page of ``/<version>/<resource>``, following ``next``."""
        url: str | None = self._url(f"{self.api_version}/{resource}")
        query: dict[str, Any] | None = {"limit": self.page_size, **params}
        seen: set[str] = set()
        while url is not None:
            body, _ = self.http.get_json(url, query)
            if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
                raise DisconnectedError(f"Clever sent an unexpected page for {resource}")
            yield [item.get("data", item) for item in body.get("data") or [] if isinstance(item, dict)]
            following = next(
                (
                    link.get("uri")
                    for link in body.get("links") or []
                    if isinstance(link, dict) and link.get("rel") == "next"
                ),
                None,
            )
            url, query = (self._url(following), None) if following else (None, None)
            if url is not None:
                if url in seen or len(seen) >= MAX_PAGES:
                    raise DisconnectedError(f"Clever's paging of {resource} does not end ({url})")
                seen.add(url)

    def district(self) -> dict[str, Any]:
        districts = [d for page in self.pages("districts") for d in page]
        if not districts:
            raise DisconnectedError("Clever returned no district for this token")
        return districts[0]

    def pull(self, writer: PageWriter, today: date) -> None:
        """Check the district, then write every list and every role's users to ``writer``."""
        district = self.district()
        writer.manifest.source = {
            k: district.get(k) for k in ("id", "name", "state", "pause_start", "pause_end", "last_sync")
        }
        check_district(district, today)
        for resource in LISTS:
            writer.entity(resource)
            for page in self.pages(resource):
                writer.write(resource, page)
        for role in USER_ROLES:
            name = f"users_{role}"
            writer.entity(name)
            for page in self.pages("users", role=role):
                writer.write(name, page)
