"""Pure rules of taking a set from the inbox: newest of a name, files a format reads, arrivals,
alerts for ignored files, the grace period, and the district's calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from rostersync.pipeline.inbox import Taken, TakenFile, entity_arrivals, ignored_alerts, split_used
from rostersync.pipeline.intake import grace_ends
from rostersync.pipeline.layout import archive_prefix, newest_by_name, taken_key
from rostersync.settings import DistrictSettings, PauseWindow

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Obj:
    key: str
    etag: str
    last_modified: datetime
    size: int = 1


def test_the_newest_of_two_names_differing_only_in_case_is_kept() -> None:
    old = Obj("inbox/d/students.csv", "a", T0)
    new = Obj("inbox/d/Students.csv", "b", T0 + timedelta(seconds=5))
    other = Obj("inbox/d/schools.csv", "c", T0)

    assert newest_by_name([old, new, other]) == [new, other]
    assert newest_by_name([new, old, other]) == [new, other]


def test_an_older_capitalised_name_loses_to_a_newer_lower_case_one() -> None:
    old = Obj("inbox/d/Students.csv", "a", T0)
    new = Obj("inbox/d/students.csv", "b", T0 + timedelta(seconds=1))

    assert newest_by_name([old, new]) == [new]


def test_files_a_clever_set_does_not_read_are_split_off() -> None:
    files = [
        Obj("inbox/d/students.csv", "a", T0),
        Obj("inbox/d/junk.bin", "b", T0),
        Obj("inbox/d/Staff.csv", "c", T0),
    ]

    used, ignored = split_used("clever_csv", files)

    assert [o.key for o in used] == ["inbox/d/students.csv", "inbox/d/Staff.csv"]
    assert ignored == ["junk.bin"]


def test_an_entity_is_received_when_its_file_arrived() -> None:
    taken = Taken(files=[TakenFile(name="Students.csv", source_key="k", etag="e", arrived_at=T0)])
    read = T0 + timedelta(days=3)

    arrivals = entity_arrivals(
        {"students": read, "contacts": read, "staff": read},
        {"students": "students.csv", "contacts": "students.csv"},
        taken,
    )

    assert arrivals == {"students": T0, "contacts": T0, "staff": read}


def test_each_ignored_file_is_one_alert_naming_it() -> None:
    alerts = ignored_alerts(Taken(format="clever_csv", ignored=["junk.bin", "notes.txt"]))

    assert alerts.column("severity").to_pylist() == ["alert", "alert"]
    assert alerts.column("file").to_pylist() == ["junk.bin", "notes.txt"]
    assert alerts.column("message").to_pylist()[0] == (
        "not a file of the clever_csv format: ignored (not copied, not loaded)"
    )


def test_the_grace_period_follows_the_quiet_period() -> None:
    settings = DistrictSettings(missing_files_grace_minutes=30)

    assert grace_ends(settings, T0, 300) == T0 + timedelta(minutes=35)
    assert grace_ends(DistrictSettings(), T0, 0) == T0 + timedelta(hours=1)


def test_archive_and_taken_keys() -> None:
    assert archive_prefix("d1", "d1-abc") == "archive/d1/d1-abc/"
    assert taken_key("d1", "d1-abc") == "syncs/d1/d1-abc/taken.json"
    assert taken_key("d1", "d1-abc", 2) == "syncs/d1/d1-abc/attempt-2/taken.json"


# --- the district's calendar -------------------------------------------------------------------------


def test_a_time_zone_must_be_an_iana_name() -> None:
    with pytest.raises(
        ValidationError, match="not a time zone: america/chicago \\(did you mean America/Chicago\\?\\)"
    ):
        DistrictSettings(time_zone="america/chicago")


def test_the_local_date_is_the_districts_calendar_day() -> None:
    late_evening_utc = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)

    assert DistrictSettings().local_date(late_evening_utc) == date(2026, 6, 1)
    assert DistrictSettings(time_zone="Pacific/Auckland").local_date(late_evening_utc) == date(2026, 6, 2)
    assert DistrictSettings(time_zone="America/Chicago").local_date(
        datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    ) == date(2026, 6, 1)


def test_a_pause_window_is_in_force_on_the_districts_days() -> None:
    window = PauseWindow(first_day=date(2026, 6, 2), last_day=date(2026, 6, 2))
    settings = DistrictSettings(time_zone="Pacific/Auckland", pause_windows=[window])

    assert settings.paused_at(datetime(2026, 6, 1, 13, 0, tzinfo=UTC)) == window  # 01:00 on the 2nd there
    assert settings.paused_at(datetime(2026, 6, 1, 11, 0, tzinfo=UTC)) is None  # 23:00 on the 1st there
