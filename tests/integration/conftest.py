"""The local run of the real stack for the integration tests.

``stack`` is ``template.yaml`` in moto (rostersync_tools.local.LocalAws) with a zero quiet period and a
one-second lock retry, so nothing waits longer than the state machine's own Wait states need.
Data is a small seeded synthetic district (three schools) written as Clever CSV, generated once
per session. Helpers upload a file set the way SFTP and S3 deliver it (every file, then one
"Object Created" event per file), find the one sync that processes it (the others coalesce), and
take decisions through :func:`rostersync.pipeline.decisions.submit_decision`, as the API does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rostersync.aws import S3BlobStore
from rostersync.pipeline.decisions import DecisionResult, submit_decision
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings, HoldSettings, PauseWindow
from rostersync.snapshot import latest_version, read_version
from rostersync_tools.local import LocalAws, wait_for
from rostersync_tools.local.routing import serialized
from rostersync_tools.synthetic import (
    SyntheticDistrict,
    drop_school_students,
    generate_district,
    write_clever_csv,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SENDER = "rostersync@example.org"
ADMIN = "admin@district.example.org"
FAST = {"SenderEmail": SENDER, "QuietPeriodSeconds": 0, "LockRetrySeconds": 1}
TIMEOUT = 20.0  # seconds any one wait may take before the test fails with the execution history

Files = dict[str, bytes]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration carries the ``integration`` marker."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


# ---------------------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class DistrictData:
    """A generated district and file sets derived from it, as Clever CSV bytes."""

    district: SyntheticDistrict
    schools: list[str]
    root: Path

    def files(self, district: SyntheticDistrict, name: str) -> Files:
        folder = self.root / name
        written = write_clever_csv(district, folder)
        return {file_name: path.read_bytes() for file_name, path in sorted(written.items())}

    @property
    def day1(self) -> Files:
        return self.files(self.district, "day1")

    def without_students_of(self, *schools: str, fraction: float = 0.5) -> SyntheticDistrict:
        day2 = self.district
        for i, school in enumerate(schools):
            day2 = drop_school_students(day2, school, fraction, seed=i)
        return day2


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> DistrictData:
    district = generate_district(students=450, schools=3, seed=7, district_id="synthetic")
    schools = sorted(district.table("schools").column("school_id").to_pylist())
    return DistrictData(district=district, schools=schools, root=tmp_path_factory.mktemp("district"))


# ---------------------------------------------------------------------------------------- stack


@pytest.fixture
def make_stack() -> Iterator[Callable[..., LocalAws]]:
    """Enter a local stack with parameter overrides on top of the fast defaults."""
    stacks: list[LocalAws] = []

    def make(**parameters: Any) -> LocalAws:
        stack = LocalAws(TEMPLATE, parameters={**FAST, **parameters}, stack_name="it")
        stacks.append(stack)
        return stack.__enter__()

    yield make
    for stack in reversed(stacks):
        stack.__exit__(None, None, None)


@pytest.fixture
def stack(make_stack: Callable[..., LocalAws]) -> LocalAws:
    return make_stack()


def deps_of(stack: LocalAws) -> Any:
    """The pipeline's adapters on the local stack (the ones it hands the functions)."""
    return stack.pipeline_deps()


def put_settings(stack: LocalAws, settings: DistrictSettings) -> None:
    """Store district settings through the repository, as the settings API would."""
    deps_of(stack).repo.put_settings(settings)


def district_settings(district_id: str, **changes: Any) -> DistrictSettings:
    """Settings of a test district: one admin, and the generated data's emergency contacts
    allowed, so a first sync of the synthetic data applies without a hold."""
    return DistrictSettings(
        district_id=district_id,
        admin_emails=[ADMIN],
        holds=HoldSettings(emergency_contacts="allow"),
        **changes,
    )


def paused_today(district_id: str) -> DistrictSettings:
    today = datetime.now(UTC).date()
    window = PauseWindow(first_day=today - timedelta(days=1), last_day=today + timedelta(days=1))
    return district_settings(district_id, pause_windows=[window])


# ---------------------------------------------------------------------------------------- uploads


def upload(stack: LocalAws, district_id: str, files: Mapping[str, bytes], *, each: bool = False) -> list[str]:
    """Upload ``files`` to the inbox and deliver Object Created events: the sync ids the arrival
    step started, in delivery order.

    S3 sends one event per file (``each=True``; all but one sync then coalesce, which
    test_one_sync_processes_a_set_delivered_file_by_file covers). By default only the last file's
    event is delivered, the one whose sync processes the set after the quiet period: the other
    syncs would only add executions that coalesce.
    """
    if each:
        deliveries = stack.upload_and_deliver(district_id, files)
    else:
        keys = stack.upload_files(district_id, files)
        deliveries = [stack.deliver_object_created(stack.env("RAW_BUCKET"), keys[-1])]
    return [d.results["IngestFunction"]["sync_id"] for d in deliveries]


def processing_sync(stack: LocalAws, district_id: str, sync_ids: list[str], timeout: float = TIMEOUT) -> str:
    """The one sync of ``sync_ids`` that processes the set, once all the others have coalesced."""

    def single() -> str | None:
        statuses = {s: (stack.sync_record(district_id, s) or {}).get("status") for s in sync_ids}
        others = [s for s, status in statuses.items() if status != "coalesced"]
        coalesced_done = all(
            stack.client("stepfunctions").describe_execution(executionArn=stack.execution_arn(s))["status"]
            != "RUNNING"
            for s, status in statuses.items()
            if status == "coalesced"
        )
        return others[0] if len(others) == 1 and coalesced_done else None

    def message() -> str:
        records = {s: stack.sync_record(district_id, s) or {} for s in sync_ids}
        return "; ".join(f"{s}: {r.get('status')} ({r.get('reason')})" for s, r in records.items())

    return wait_for(single, timeout, lambda: f"expected exactly one sync to process the set: {message()}")


def sync_set(
    stack: LocalAws, district_id: str, files: Mapping[str, bytes], statuses: set[str], *, each: bool = False
) -> dict[str, Any]:
    """Upload a file set and wait until the sync processing it reaches one of ``statuses``."""
    sync_id = processing_sync(stack, district_id, upload(stack, district_id, files, each=each))
    return stack.wait_for_sync(district_id, sync_id, statuses, timeout=TIMEOUT)


def wait_ended(stack: LocalAws, sync_id: str) -> dict[str, Any]:
    return stack.wait_for_execution(sync_id, timeout=TIMEOUT)


# ---------------------------------------------------------------------------------------- decisions


def decide(
    stack: LocalAws,
    district_id: str,
    sync_id: str,
    action: str,
    schools: list[str] | None = None,
) -> DecisionResult:
    """Take a decision as the release API does (``submit_decision``: token lookup, conditional
    write, SendTaskSuccess). Serialised with the routed handlers, as the API function would be."""
    deps = deps_of(stack)
    with serialized():
        return submit_decision(
            deps.repo,
            deps.workflow,
            district_id=district_id,
            sync_id=sync_id,
            action=action,  # type: ignore[arg-type]
            actor="integration-test",
            schools=schools,
        )


def awaiting_decision(stack: LocalAws, district_id: str, sync_id: str, rounds: int = 1) -> dict[str, Any]:
    """The sync record once the execution waits on its ``rounds``-th decision task.

    The await_decision step marks the sync held before it moves the lock and emails the admins;
    the task is "submitted" (in the execution history) only when that step has returned, so
    everything a held sync leaves behind is in place by then.
    """

    def submitted() -> dict[str, Any] | None:
        if len(stack.history(sync_id, "TaskSubmitted")) < rounds:
            return None
        return stack.sync_record(district_id, sync_id)

    return wait_for(
        submitted,
        TIMEOUT,
        lambda: (
            f"sync {sync_id} is not waiting for decision {rounds}: "
            f"{stack.sync_record(district_id, sync_id)}\n{stack.history_summary(sync_id)}"
        ),
    )


# ---------------------------------------------------------------------------------------- state


def snapshots(stack: LocalAws) -> S3BlobStore:
    return S3BlobStore(stack.env("SNAPSHOT_BUCKET"))


def accepted_version(stack: LocalAws, district_id: str) -> int | None:
    return latest_version(snapshots(stack), f"districts/{district_id}")


def accepted(stack: LocalAws, district_id: str, version: int) -> RosterSet:
    return read_version(snapshots(stack), f"districts/{district_id}", version)


def student_ids(roster: RosterSet | SyntheticDistrict, school_id: str) -> set[str]:
    table = roster.tables["students"]
    return {
        person
        for person, school in zip(
            table.column("person_id").to_pylist(), table.column("school_id").to_pylist(), strict=True
        )
        if school == school_id
    }


def raw_keys(stack: LocalAws, prefix: str) -> list[str]:
    response = stack.client("s3").list_objects_v2(Bucket=stack.env("RAW_BUCKET"), Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


def lock_item(stack: LocalAws, district_id: str) -> dict[str, Any] | None:
    return stack.table_item(f"DISTRICT#{district_id}", "LOCK")


def today() -> date:
    return datetime.now(UTC).date()
