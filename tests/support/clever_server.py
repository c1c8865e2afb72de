"""A Clever-like Data API v3 server (bearer token, ``links`` paging, district state).

Lists page with ``limit`` and ``starting_after`` (the last ID of the previous page) and answer
``{"data": [{"data": {...}, "uri": ...}], "links": [{"rel": "self", ...}, {"rel": "next", ...}]}``;
``next`` is absent on the last page. With ``empty_last_page`` the last full page still links to
one more page, which is empty and has no ``next`` (the docs allow an empty page before the end).
Users are filtered by ``role``. Records may be a list or a generator function (``count``,
``make(i)``) so a 200k-user district costs no memory in the test process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.support.httpbase import LoopbackServer, Reply


@dataclass
class Generated:
    """``count`` records made on demand by ``make(index)``; IDs must sort in index order."""

    count: int
    make: Callable[[int], dict[str, Any]]
    id_of: Callable[[int], str]
    # Optional: the record's JSON text, so a very large list costs the server no dicts.
    make_json: Callable[[int], str] | None = None

    def index_after(self, record_id: str) -> int:
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            if self.id_of(mid) <= record_id:
                lo = mid + 1
            else:
                hi = mid
        return lo


class FakeClever(LoopbackServer):
    def __init__(
        self,
        *,
        token: str = "district-token",
        district: dict[str, Any] | None = None,
        data: dict[str, list[dict[str, Any]]] | None = None,
        users: dict[str, list[dict[str, Any]] | Generated] | None = None,
        empty_last_page: bool = True,
        version: str = "v3.0",
        lifetime: float = 120.0,
    ) -> None:
        super().__init__(lifetime)
        self.token = token
        self.district = district or {"id": "d0000001", "name": "Fake USD", "state": "running"}
        self.data = data or {}
        self.users = users or {}
        self.empty_last_page = empty_last_page
        self.version = version

    def _records(self, resource: str, role: str | None) -> list[dict[str, Any]] | Generated:
        if resource == "districts":
            return [self.district]
        if resource == "users":
            return self.users.get(role or "", [])
        return self.data.get(resource, [])

    def answer(self, method, path, query, headers, body, raw):  # type: ignore[no-untyped-def]
        if headers.get("Authorization") != f"Bearer {self.token}":
            raise Reply(401, {"error": "Unauthorized"})
        prefix = f"/{self.version}/"
        if not path.startswith(prefix):
            raise Reply(404, {"error": "not found"})
        resource = path[len(prefix) :]
        limit = int(query.get("limit", ["100"])[0])
        after = query.get("starting_after", [None])[0]
        role = query.get("role", [None])[0]
        records = self._records(resource, role)
        if after == "__end__":
            page: list[dict[str, Any]] = []
            more = last_full = False
        elif isinstance(records, Generated):
            start = records.index_after(after) if after else 0
            end = min(start + limit, records.count)
            more = end < records.count
            last_full = not more and end > start
            if records.make_json is not None:
                return Reply(200, self._fast_page(path, role, limit, records, start, end, more, last_full))
            page = [records.make(i) for i in range(start, end)]
        else:
            ids = [r["id"] for r in records]
            start = ids.index(after) + 1 if after else 0
            page = records[start : start + limit]
            more = start + limit < len(records)
            last_full = not more and bool(page)
        return self._page(path, role, limit, after, page, more, last_full)

    def _links(self, path: str, role: str | None, limit: int, cursor: str | None) -> list[dict[str, str]]:
        params = {"limit": str(limit), **({"role": role} if role else {})}
        links = [{"rel": "self", "uri": f"{path}?{urlencode(params)}"}]
        if cursor is not None:
            links.append({"rel": "next", "uri": f"{path}?{urlencode({**params, 'starting_after': cursor})}"})
        return links

    def _cursor(self, last_id: str | None, more: bool, last_full: bool, after: str | None) -> str | None:
        if after == "__end__" or not (more or (self.empty_last_page and last_full)):
            return None
        return last_id if more else "__end__"

    def _fast_page(self, path, role, limit, records, start, end, more, last_full):  # type: ignore[no-untyped-def]
        assert records.make_json is not None
        items = ",".join(
            f'{{"data":{records.make_json(i)},"uri":"{path}/{records.id_of(i)}"}}' for i in range(start, end)
        )
        cursor = self._cursor(records.id_of(end - 1) if end > start else None, more, last_full, None)
        links = json.dumps(self._links(path, role, limit, cursor))
        return f'{{"data":[{items}],"links":{links}}}'.encode()

    def _page(self, path, role, limit, after, page, more, last_full):  # type: ignore[no-untyped-def]
        cursor = self._cursor(page[-1]["id"] if page else None, more, last_full, after)
        return Reply(
            200,
            {
                "data": [{"data": r, "uri": f"{path}/{r['id']}"} for r in page],
                "links": self._links(path, role, limit, cursor),
            },
        )
