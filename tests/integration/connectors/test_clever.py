"""Clever API v3 client and mapping, against the Clever-like server."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from rostersync.connectors.clever import CleverClient, check_district
from rostersync.connectors.http import HttpClient
from rostersync.connectors.mapping import pulled_raw
from rostersync.connectors.pages import PageWriter
from rostersync.pipeline.ports import CredentialsError, DisconnectedError, SourcePausedError
from rostersync.storage import LocalBlobStore
from rostersync.validate import validate
from tests.support.clever_server import FakeClever
from tests.support.httpbase import Fault

TODAY = date(2025, 3, 3)


def _pull(
    server: FakeClever, http: HttpClient, writer: PageWriter, token: str = "district-token", size: int = 4
) -> None:
    CleverClient(server.url, token, http, page_size=size).pull(writer, TODAY)


def _roster(store: LocalBlobStore, writer: PageWriter) -> Any:
    return validate(pulled_raw(store, writer.manifest), received_at=datetime(2025, 3, 3, tzinfo=UTC))


def test_pages_follow_next_links_through_an_empty_last_page(
    clever: FakeClever, http: HttpClient, writer: PageWriter, clever_data: dict[str, Any]
) -> None:
    _pull(clever, http, writer)

    students = writer.manifest.entities["users_student"]
    assert students.records == len(clever_data["users"]["student"]) == 12
    assert students.pages == 4  # 4 + 4 + 4, then the empty page that ends the list
    assert len(students.keys) == 3  # the empty page is counted, not stored
    assert any("starting_after=__end__" in path for _, path, _ in clever.log)


def test_every_request_carries_the_bearer_token_and_a_wrong_token_is_credentials(
    clever: FakeClever, http: HttpClient, writer: PageWriter
) -> None:
    with pytest.raises(CredentialsError, match="401"):
        _pull(clever, http, writer, token="revoked")


def test_a_429_in_the_middle_of_a_list_is_retried_without_losing_a_page(
    clever: FakeClever, http: HttpClient, writer: PageWriter, sleeps: Any
) -> None:
    clever.faults.append(
        Fault(lambda p, q: "starting_after" in q and q.get("role") == ["student"], 429, {"Retry-After": "1"})
    )

    _pull(clever, http, writer)

    assert writer.manifest.entities["users_student"].records == 12
    assert sleeps.waits == [1.0]


def test_500s_on_a_page_end_as_disconnected(clever: FakeClever, http: HttpClient, writer: PageWriter) -> None:
    clever.faults.append(Fault(lambda p, q: p.endswith("/sections"), 502, times=99))

    with pytest.raises(DisconnectedError, match="502"):
        _pull(clever, http, writer)


def test_a_district_in_error_state_is_disconnected(
    http: HttpClient, writer: PageWriter, clever_data: dict[str, Any]
) -> None:
    district = {**clever_data["district"], "state": "error", "error": "SIS credentials expired"}
    with FakeClever(
        district=district, data=clever_data["data"], users=clever_data["users"], lifetime=20
    ) as server:
        with pytest.raises(DisconnectedError, match="SIS credentials expired"):
            _pull(server, http, writer)
        assert not [p for _, p, _ in server.log if "/users" in p]  # nothing else was read


def test_a_district_pause_window_containing_today_is_a_pause() -> None:
    district = {
        "id": "d",
        "name": "Fake USD",
        "state": "running",
        "pause_start": "2025-03-01",
        "pause_end": "2025-03-10",
    }

    with pytest.raises(SourcePausedError, match="paused from 2025-03-01 until 2025-03-10"):
        check_district(district, TODAY)
    check_district({**district, "pause_end": "2025-03-02"}, TODAY)  # over: no error


def test_mapping_gives_canonical_tables(
    clever: FakeClever, http: HttpClient, writer: PageWriter, store: LocalBlobStore
) -> None:
    _pull(clever, http, writer)

    loaded = _roster(store, writer)

    counts = loaded.roster.counts()
    assert (
        counts["schools"] == 2
        and counts["students"] == 12
        and counts["teachers"] == 3
        and counts["staff"] == 1
    )
    assert counts["enrollments"] == 14 and counts["sections"] == 3 and counts["terms"] == 1
    assert loaded.issues.num_rows == 0
    sections = {r["section_id"]: r for r in loaded.roster.table("sections").to_pylist()}
    assert sections["sec1"]["teacher_ids"] == ["t1", "t2"]  # the primary teacher first
    terms = loaded.roster.table("terms").to_pylist()
    assert terms[0]["school_id"] == "sch1" and str(terms[0]["start_date"]) == "2024-08-20"
    student = next(r for r in loaded.roster.table("students").to_pylist() if r["person_id"] == "s1")
    assert (student["school_id"], student["sis_id"], str(student["birth_date"])) == (
        "sch1",
        "S-1",
        "2015-03-01",
    )


def test_contacts_are_keyed_like_the_csv_reader_and_links_carry_relationship_and_type(
    clever: FakeClever, http: HttpClient, writer: PageWriter, store: LocalBlobStore
) -> None:
    _pull(clever, http, writer)

    roster = _roster(store, writer).roster

    contacts = {r["person_id"]: r for r in roster.table("contacts").to_pylist()}
    assert set(contacts) == {"P-1", "email:dad2@example.com", "name:ann aunt|phone:5550100003"}
    assert (contacts["P-1"]["first_name"], contacts["P-1"]["last_name"]) == ("Mary", "Parent")
    links = {(r["student_id"], r["contact_id"]): r for r in roster.table("contact_links").to_pylist()}
    assert set(links) == {
        ("s1", "P-1"),
        ("s2", "P-1"),
        ("s7", "email:dad2@example.com"),
        ("s8", "name:ann aunt|phone:5550100003"),
    }
    assert (
        links[("s7", "email:dad2@example.com")]["relationship"],
        links[("s7", "email:dad2@example.com")]["contact_type"],
    ) == ("Grandparent", "Emergency")


def test_a_contact_without_sis_id_keeps_its_key_when_clever_gives_it_a_new_id(
    http: HttpClient, tmp_path: Any, clever_data: dict[str, Any]
) -> None:
    keys = []
    for clever_id in ("c-b7", "c-b7-recreated"):
        data = copy.deepcopy(clever_data)
        data["users"]["contact"][1]["id"] = clever_id
        store = LocalBlobStore(tmp_path / clever_id)
        writer = PageWriter(store, "raw/", "clever")
        with FakeClever(
            district=data["district"], data=data["data"], users=data["users"], lifetime=20
        ) as server:
            _pull(server, http, writer)
        keys.append(sorted(_roster(store, writer).roster.table("contacts").column("person_id").to_pylist()))

    assert keys[0] == keys[1]
