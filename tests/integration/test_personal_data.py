"""Personal data stays out of messages: a full local sync of a set with malformed rows (a row
run together into one value, a row with an unquoted comma in a name, a contact known only by name
and phone) leaves none of the generated people's names in any email, log line, API body or
DynamoDB item (the row-errors CSV, a download for admins, is not searched here; its personal values
are masked too, see tests/unit/test_redact.py)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from rostersync.settings import HoldSettings
from rostersync_tools.local import LocalAws
from rostersync_tools.local.routing import serialized

from .conftest import (
    DistrictData,
    awaiting_decision,
    district_settings,
    put_settings,
    sync_set,
    wait_ended,
)
from .test_api_release import call

D = "d1"
NAME_COLUMNS = ("first_name", "middle_name", "last_name")


def _people_names(data: DistrictData) -> set[str]:
    """Every generated first, middle and last name of four letters or more (shorter ones also
    spell ordinary words), and every contact's full name."""
    names: set[str] = set()
    for entity in ("students", "teachers", "staff", "contacts"):
        table = data.district.table(entity)
        for column in NAME_COLUMNS:
            if column in table.column_names:
                names.update(v for v in table.column(column).to_pylist() if v and len(v) >= 4)
    return names


def _malformed(day2: dict[str, bytes]) -> dict[str, bytes]:
    """students.csv of ``day2`` with three malformed rows."""
    lines = day2["students.csv"].decode().splitlines()
    # Row 3: the whole row run together into the first value (its quotes lost).
    lines[2] = '"' + lines[2].replace('"', "") + '"'
    # Row 5: an unquoted comma inside the last name: one value too many.
    lines[4] = lines[4].replace('","', '",', 4).replace('",', '","', 3) + ',"Junior"'
    # Row 7: a contact with no SIS ID and no email, so it is known by name and phone.
    fields = lines[6].split('","')
    fields[-1] = '"'
    fields[-2] = ""
    lines[6] = '","'.join(fields)
    return {**day2, "students.csv": ("\n".join(lines) + "\n").encode()}


def _anonymous_contacts(files: dict[str, bytes]) -> dict[str, bytes]:
    """students.csv of ``files`` with every contact's SIS ID and email blanked: contacts are then
    known by name and phone (the IDs the Clever reader makes for them)."""
    lines = files["students.csv"].decode().splitlines()
    header = lines[0].split(",")
    blank = {header.index("Contact_sis_id"), header.index("Contact_email")}
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split('","')
        fields = [("" if i in blank else f) for i, f in enumerate(fields)]
        fields[0] = fields[0] or '"'
        fields[-1] = fields[-1] or '"'
        out.append('","'.join(fields))
    return {**files, "students.csv": ("\n".join(out) + "\n").encode()}


def _dynamodb_items(stack: LocalAws) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    with serialized():
        pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.env("TABLE_NAME"))
        return [
            {k: deserializer.deserialize(v) for k, v in item.items()} for p in pages for item in p["Items"]
        ]


def _found(names: set[str], texts: list[str]) -> set[str]:
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names)) + r")\b", re.IGNORECASE)
    return {m.group(0) for text in texts for m in pattern.finditer(text)}


def test_no_generated_name_reaches_an_email_log_api_body_or_table_item(
    stack: LocalAws, data: DistrictData, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    put_settings(stack, district_settings(D))
    first = sync_set(stack, D, _anonymous_contacts(data.day1), {"applied", "failed", "held"})
    wait_ended(stack, str(first["sync_id"]))
    put_settings(stack, district_settings(D).model_copy(update={"holds": HoldSettings()}))
    day2 = _malformed(_anonymous_contacts(data.files(data.without_students_of(data.schools[0]), "day2-pii")))

    record = sync_set(stack, D, day2, {"held", "applied", "failed"})
    sync_id = str(record["sync_id"])
    assert record["status"] == "held", record
    awaiting_decision(stack, D, sync_id)

    bodies = [
        call(stack, "GET", path)[1]
        for path in (
            f"/districts/{D}/holds",
            f"/districts/{D}/syncs",
            f"/syncs/{sync_id}",
            f"/districts/{D}/audit",
        )
    ]
    emails = [f"{m.subject}\n{m.text}\n{m.html}" for m in stack.sent_emails()]
    texts = [
        *emails,
        *(json.dumps(b, default=str) for b in bodies),
        *(json.dumps(i, default=str) for i in _dynamodb_items(stack)),
        *(r.getMessage() for r in caplog.records),
    ]
    assert any("on hold" in e for e in emails)
    assert _found(_people_names(data), texts) == set()
