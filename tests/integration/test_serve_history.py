"""``serve`` with a history of syncs: idle costs nothing, and a change is still reported.

The local product runs in this process (LocalProduct), so its CPU time is this process's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rostersync.pipeline.models import SyncRecord
from rostersync_tools.local.routing import serialized
from rostersync_tools.local.serve import LocalProduct, ServeOptions

HISTORY = 150
IDLE_SECONDS = 3.0


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalProduct, list[str]]]:
    lines: list[str] = []
    workdir = tmp_path_factory.mktemp("serve")
    with LocalProduct(ServeOptions(workdir=workdir, sftp_password="pw"), log=lines.append) as running:
        assert running.stack is not None
        repo = running.stack.api_deps().repo
        start = datetime.now(UTC) - timedelta(days=HISTORY)
        with serialized():
            for i in range(HISTORY):
                at = start + timedelta(days=i)
                repo.put_sync(
                    SyncRecord(
                        district_id="demo",
                        sync_id=f"demo-{i:012x}",
                        status="applied",
                        versions=[i + 1],
                        created_at=at,
                        updated_at=at,
                    )
                )
        yield running, lines


def test_an_idle_serve_with_150_syncs_of_history_uses_almost_no_cpu(
    product: tuple[LocalProduct, list[str]],
) -> None:
    time.sleep(0.5)
    cpu, wall = time.process_time(), time.monotonic()

    time.sleep(IDLE_SECONDS)

    share = (time.process_time() - cpu) / (time.monotonic() - wall)
    assert share < 0.05, f"idle serve used {share:.0%} of a core"


def test_a_status_the_pipeline_writes_is_reported(product: tuple[LocalProduct, list[str]]) -> None:
    running, lines = product
    assert running.stack is not None
    deps = running.stack.pipeline_deps()  # the functions' repository: it tells the watcher

    with serialized():
        deps.repo.update_sync(
            "demo", "demo-000000000007", datetime.now(UTC), status="failed", reason="[/] broke"
        )

    deadline = time.monotonic() + 10
    while not any("demo-000000000007" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    # serve stamps each line with the time ("[dim]HH:MM:SS[/dim] "): the message follows it
    messages = [line.partition("[/dim] ")[2] for line in lines]
    assert "[cyan]demo[/cyan] sync demo-000000000007: [red]failed[/red]: \\[/] broke" in messages
