"""The fault matrix, crashes (issue 12 item 9, docs/reliability.md): every step of the sync
killed once just before and just after its side effect, with what the state machine does next.

One table of cases (:data:`CASES`), one stack for all of them (each case has a district of its
own, and its hook fires only on that district's request), one assertion helper
(:func:`assert_outcome`). A crash is a botocore hook on the functions' shared client, pinned to
the one request that carries the side effect: ``before`` raises before the request is sent (the
effect never happens), ``after`` raises once the service has answered (the effect happened, the
invocation dies before it records it). Nothing of rostersync is replaced.

What follows a crash is the state machine's: every step retries any error (each is idempotent:
a retry finds what its crashed attempt did), so a one-off crash costs the sync a second or two
and it ends as if nothing happened: applied (a held sync once released), one version, one event
and one email per fact. A crash on every attempt exhausts the retry and goes to
``RecordFailure``: the sync ends ``failed`` with the crash as its reason, and the district must
be left whole (nothing applied, the lock released, the raw files kept) so that the next upload
applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from rostersync_tools.local import LocalAws, wait_for
from rostersync_tools.synthetic import SyntheticDistrict
from tests.support.faults import PinnedCrash, When, pinned_crash

from .conftest import (
    FAST,
    TEMPLATE,
    TIMEOUT,
    DistrictData,
    Files,
    accepted,
    accepted_version,
    decide,
    district_settings,
    lock_item,
    put_settings,
    raw_keys,
    student_ids,
    sync_set,
    wait_ended,
)

pytestmark = pytest.mark.integration

ENDED = {"applied", "failed", "held", "superseded", "rejected", "partially_applied"}
Match = Callable[[str, dict[str, Any]], bool]  # (district, the operation's parameters)


# ------------------------------------------------------------------------------- the requests


def _key(params: dict[str, Any]) -> str:
    return str(params.get("Key", ""))


def _s3_key(district: str, *parts: str, suffix: str) -> Match:
    """An S3 write of ``district``'s sync whose key holds ``parts`` and ends with ``suffix``."""

    def match(d: str, params: dict[str, Any]) -> bool:
        key = _key(params)
        return f"/{d}/" in f"/{key}" and all(p in key for p in parts) and key.endswith(suffix)

    del district
    return match


def _item(params: dict[str, Any], name: str) -> str:
    value = (params.get("Item") or params.get("Key") or {}).get(name) or {}
    return str(value.get("S", ""))


def lock_write(d: str, params: dict[str, Any]) -> bool:
    return _item(params, "pk") == f"DISTRICT#{d}" and _item(params, "sk") == "LOCK"


def token_write(d: str, params: dict[str, Any]) -> bool:
    return _item(params, "pk").startswith("HOLD#") and _item(params, "district_id") == d


def finish_status_write(d: str, params: dict[str, Any]) -> bool:
    names = (params.get("ExpressionAttributeNames") or {}).values()
    return _item(params, "pk") == f"DISTRICT#{d}" and "finished_at" in names


def email_of(d: str, params: dict[str, Any]) -> bool:
    return f"sync {d}-" in str(params.get("Message", {}).get("Subject", {}).get("Data", ""))


def event_of(d: str, params: dict[str, Any]) -> bool:
    return any(f'"district_id": "{d}"' in str(e.get("Detail", "")) for e in params.get("Entries", []))


# ------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One crash: the step whose invocation dies, at which request, before or after it."""

    id: str
    step: str
    effect: str  # what the request does, in words (docs/reliability.md)
    service: str
    operation: str
    match: Match
    when: When  # "before": the request is never sent; "after": the service answered it
    held: bool = False  # the crash hits the held sync of day 2 (day 1 applies first, unharmed)
    every_attempt: bool = False  # the crash repeats on every attempt: the retry is exhausted

    @property
    def lost_event(self) -> str | None:
        """The event a crash after its ``PutEvents`` puts twice (at least once, docs/events.md)."""
        return self.effect.split()[0] if self.operation == "PutEvents" and self.when == "after" else None


def _both(
    step: str, effect: str, service: str, operation: str, match: Match, *, held: bool = False
) -> list[Case]:
    return [
        Case(f"{step}-{when}-{effect.split()[0]}", step, effect, service, operation, match, when, held)
        for when in ("before", "after")
    ]


CASES: list[Case] = [
    *_both("settle", "taken.json written", "s3", "PutObject", _s3_key("", suffix="/taken.json")),
    *_both("lock", "lock taken", "dynamodb", "PutItem", lock_write),
    *_both(
        "normalize",
        "staged snapshot committed",
        "s3",
        "PutObject",
        _s3_key("", "/staged/", suffix="manifest.json"),
    ),
    *_both("diff", "change set committed", "s3", "PutObject", _s3_key("", "/changes/", suffix="index.json")),
    *_both("evaluate", "holds.json written", "s3", "PutObject", _s3_key("", suffix="/holds.json"), held=True),
    *_both("evaluate", "SyncHeld put", "events", "PutEvents", event_of, held=True),
    *_both("await_decision", "decision token stored", "dynamodb", "PutItem", token_write, held=True),
    *_both("await_decision", "hold email sent", "ses", "SendEmail", email_of, held=True),
    *_both("apply", "version promoted", "s3", "PutObject", _s3_key("", "/versions/", suffix=".json")),
    *_both("notify", "RosterChangesApplied put", "events", "PutEvents", event_of),
    *_both("finish", "final status written", "dynamodb", "UpdateItem", finish_status_write),
    *_both("finish", "lock released", "dynamodb", "DeleteItem", lock_write),
]

# Crashes that repeat on every attempt: the retry is exhausted and the sync fails with its reason.
# Settle's is before its commit (taken.json): after it, the retry finds the set taken.
PERSISTENT: list[Case] = [
    Case(
        "diff-every-attempt",
        "diff",
        "change set committed",
        "s3",
        "PutObject",
        _s3_key("", "/changes/", suffix="index.json"),
        "before",
        every_attempt=True,
    ),
    Case(
        "settle-every-attempt",
        "settle",
        "taken.json written",
        "s3",
        "PutObject",
        _s3_key("", suffix="/taken.json"),
        "before",
        every_attempt=True,
    ),
]
# The state machine's attempts of a step that keeps failing: the first and two retries.
ATTEMPTS = 3


# ------------------------------------------------------------------------------- the hook


@contextmanager
def crashing(case: Case, district: str) -> Iterator[PinnedCrash]:
    """The crash of ``case``, pinned to ``district``'s request."""
    with pinned_crash(
        case.service,
        case.operation,
        lambda params: case.match(district, params),
        case.when,
        f"the {case.step} invocation was killed {case.when} the {case.effect}",
        None if case.every_attempt else 1,
    ) as hook:
        yield hook


# ------------------------------------------------------------------------------- the stack


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalAws]:
    """One local stack for every case of the table (each case uses its own district)."""
    stack = LocalAws(TEMPLATE, parameters=FAST, stack_name="crashes")
    with stack:
        yield stack


def _waits_for_decision(stack: LocalAws, sync_id: str) -> bool:
    """True once the held sync's execution waits for a decision; False if it ended instead."""

    def settled() -> bool | None:
        if stack.history(sync_id, "TaskSubmitted"):
            return True
        status = stack.client("stepfunctions").describe_execution(executionArn=stack.execution_arn(sync_id))
        return None if status["status"] == "RUNNING" else False

    return bool(wait_for(settled, TIMEOUT, lambda: stack.history_summary(sync_id)))


@dataclass(frozen=True)
class Run:
    record: dict[str, Any]  # the crashed sync's record once its execution ended
    uploaded: SyntheticDistrict
    files: Files
    crashed: int


def _run(stack: LocalAws, data: DistrictData, case: Case, district: str) -> Run:
    """Upload (day 1, or after it the held day 2) with the crash armed; release a held sync."""
    put_settings(stack, district_settings(district))
    uploaded = data.district
    if case.held:
        first = sync_set(stack, district, data.day1, ENDED)
        assert first["status"] == "applied", first
        wait_ended(stack, str(first["sync_id"]))
        uploaded = data.without_students_of(data.schools[0])
    files = data.files(uploaded, "crash-day2" if case.held else "day1")
    with crashing(case, district) as hook:
        record = sync_set(stack, district, files, ENDED)
        sync_id = str(record["sync_id"])
        if record["status"] == "held" and _waits_for_decision(stack, sync_id):
            decide(stack, district, sync_id, "release")
        assert wait_ended(stack, sync_id)["status"] in {"SUCCEEDED", "FAILED"}
    return Run(stack.sync_record(district, sync_id) or {}, uploaded, files, hook.crashed)


def _events(stack: LocalAws, district: str) -> Counter[tuple[str, str]]:
    return Counter(
        (e["detail-type"], e["detail"]["event_id"])
        for e in stack.captured_events()
        if e["detail"].get("district_id") == district
    )


def _subjects(stack: LocalAws, district: str) -> Counter[str]:
    return Counter(str(m.subject) for m in stack.sent_emails() if f"sync {district}-" in str(m.subject))


def assert_outcome(stack: LocalAws, data: DistrictData, case: Case, district: str, run: Run) -> None:
    """The invariants of every crash: the status that says why, one accepted version (the new
    one, whole, or the one before), one event per fact and one email per fact, the raw files
    kept, the lock released, one crashed task per crash."""
    record, files = run.record, run.files
    sync_id = str(record["sync_id"])
    base = 1 if case.held else None
    events, subjects = _events(stack, district), _subjects(stack, district)
    # One email per fact; a lost SendEmail response sends that email again (the hold email here).
    lost_email = case.operation == "SendEmail" and case.when == "after"
    twice = [s for s, n in subjects.items() if n == 2 and lost_email and f"sync {sync_id} is on hold" in s]
    assert [s for s, n in subjects.items() if n != 1 and s not in twice] == [], subjects
    assert len(twice) == (1 if lost_email else 0), subjects
    assert len(stack.history(sync_id, "TaskFailed")) == run.crashed
    assert lock_item(stack, district) is None
    if case.every_attempt:
        assert_failed(stack, data, case, district, run, events, subjects)
        return
    version = (base or 0) + 1
    assert (record["status"], record["delivery"], record["versions"]) == ("applied", "delivered", [version])
    assert accepted_version(stack, district) == version
    assert_whole_upload(stack, data, district, version, run.uploaded)
    # One event per fact; a lost PutEvents response puts that event again, with the same id.
    mine = {k: n for k, n in events.items() if k[1].startswith(f"{sync_id}-")}
    assert {k: n for k, n in mine.items() if n != (2 if k[0] == case.lost_event else 1)} == {}, mine
    assert mine.get(("RosterChangesApplied", f"{sync_id}-v{version}")) in {1, 2}
    assert ("SyncFailed", f"{sync_id}-failed") not in events
    assert f"[rostersync] {district}: sync {sync_id} applied" in subjects
    if case.held:
        assert [s for s in subjects if f"sync {sync_id} is on hold" in s] != []
        assert [k for k in mine if k[0] == "SyncHeld"] != []
    assert raw_keys(stack, f"archive/{district}/{sync_id}/") == sorted(
        f"archive/{district}/{sync_id}/{name}" for name in files
    ), "raw files lost"


def assert_failed(
    stack: LocalAws,
    data: DistrictData,
    case: Case,
    district: str,
    run: Run,
    events: Counter[tuple[str, str]],
    subjects: Counter[str],
) -> None:
    """A crash on every attempt: ``failed`` with the crash as the reason, nothing applied, the
    district whole (the upload in the inbox if settle never took it, else archived)."""
    record, sync_id = run.record, str(run.record["sync_id"])
    assert run.crashed == ATTEMPTS
    assert record["status"] == "failed"
    killed = f"the {case.step} invocation was killed {case.when} the {case.effect}"
    assert record["reason"] == f"RuntimeError: {killed}"
    assert record["versions"] == []
    assert accepted_version(stack, district) is None
    assert events[("SyncFailed", f"{sync_id}-failed")] == 1
    assert not [k for k in events if k[0] == "RosterChangesApplied" and k[1].startswith(sync_id)]
    assert f"[rostersync] {district}: sync {sync_id} failed" in subjects
    kept = f"inbox/{district}/" if case.step == "settle" else f"archive/{district}/{sync_id}/"
    assert raw_keys(stack, kept) == sorted(kept + name for name in run.files), "raw files lost"


def assert_whole_upload(
    stack: LocalAws, data: DistrictData, district: str, version: int, uploaded: SyntheticDistrict
) -> None:
    """No partial apply: the accepted version holds every school's students as uploaded."""
    roster = accepted(stack, district, version)
    for school in data.schools:
        assert student_ids(roster, school) == student_ids(uploaded, school), school


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_crash_before_or_after_a_side_effect_is_retried_and_the_sync_completes(
    shared: LocalAws, data: DistrictData, case: Case
) -> None:
    district = f"crash{CASES.index(case)}"
    run = _run(shared, data, case, district)

    assert run.crashed == 1
    assert_outcome(shared, data, case, district, run)


def test_a_step_crashing_on_every_attempt_fails_the_sync_with_its_reason_and_the_next_upload_applies(
    shared: LocalAws, data: DistrictData
) -> None:
    case = PERSISTENT[0]
    district = "crash-every"
    run = _run(shared, data, case, district)

    assert_outcome(shared, data, case, district, run)
    # The district is not stranded: its next upload applies.
    nxt = data.files(data.without_students_of(data.schools[1], fraction=0.01), "crash-next")
    after = sync_set(shared, district, nxt, ENDED)
    assert after["status"] == "applied", after
    assert wait_ended(shared, str(after["sync_id"]))["status"] == "SUCCEEDED"
    assert accepted_version(shared, district) == 1


def test_the_tick_processes_the_files_a_failed_settle_left_in_the_inbox(
    shared: LocalAws, data: DistrictData
) -> None:
    # Settle died on every attempt between claiming the set and taking it: the files are still
    # in the inbox, claimed by a failed sync. The tick's sync of them takes the claim over and
    # applies them.
    district = "crash-tick"
    case = PERSISTENT[1]
    run = _run(shared, data, case, district)
    assert_outcome(shared, data, case, district, run)

    started = [s for s in shared.tick(shared.clock())["started"] if s.startswith(f"{district}-")]

    assert len(started) == 1
    assert wait_ended(shared, started[0])["status"] == "SUCCEEDED"
    record = shared.sync_record(district, started[0]) or {}
    assert (record["status"], record["versions"]) == ("applied", [1]), record.get("reason")
    assert raw_keys(shared, f"inbox/{district}/") == []
    assert len(raw_keys(shared, f"archive/{district}/{started[0]}/")) == len(run.files)
    assert accepted_version(shared, district) == 1
