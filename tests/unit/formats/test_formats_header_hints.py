"""The "did you mean" hint for a missing required header never offers one found header twice."""

from __future__ import annotations

from pathlib import Path

from rostersync.formats.csvio import read_csv
from rostersync.formats.sds_files import ENROLLMENTS


def test_one_found_header_is_offered_for_the_closest_required_header_only(tmp_path: Path) -> None:
    # "sourcedId" is close to both classSourcedId and userSourcedId; it is a hint for the closer one.
    path = tmp_path / "enrollments.csv"
    path.write_text("sourcedId,role\n1,student\n", encoding="utf-8")

    problems = read_csv(path, ENROLLMENTS).problems

    assert [(p.header, p.closest, p.message) for p in problems] == [
        (
            "classSourcedId",
            None,
            'required header "classSourcedId" is missing (no similar header was found in the file)',
        ),
        (
            "userSourcedId",
            "sourcedId",
            'required header "userSourcedId" is missing (found "sourcedId" — did you mean "userSourcedId"?)',
        ),
    ]


def test_two_misspellings_each_get_their_own_hint(tmp_path: Path) -> None:
    path = tmp_path / "enrollments.csv"
    path.write_text("clsSourcedId,usrSourcedId,role\nC1,U1,student\n", encoding="utf-8")

    problems = read_csv(path, ENROLLMENTS).problems

    assert [(p.header, p.closest) for p in problems] == [
        ("classSourcedId", "clsSourcedId"),
        ("userSourcedId", "usrSourcedId"),
    ]
