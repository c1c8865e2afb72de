"""The pull stage on moto: fetch hands the source to the SourcePuller port and turns its failures
into outcomes (a test double stands in for the connectors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from rostersync.connectors.pages import PageWriter, read_manifest
from rostersync.pipeline import pull
from rostersync.pipeline.events import FetchInput
from rostersync.pipeline.ports import CredentialsError, Deps, SourceConfigError, SourcePausedError
from rostersync.settings import DistrictSettings
from rostersync.sources import CleverSource, PullSource
from tests.support.pipeline_helpers import D, ref


@dataclass
class ScriptedPuller:
    """Writes one page of two users, or raises ``error``; remembers what it was asked."""

    error: Exception | None = None
    calls: list[tuple[PullSource, str, date]] = field(default_factory=list)

    def pull(self, source: PullSource, writer: PageWriter, today: date) -> None:
        self.calls.append((source, writer.prefix, today))
        if self.error is not None:
            raise self.error
        writer.write("users", [{"id": "u1"}, {"id": "u2"}])


CLEVER = CleverSource(kind="clever", secret_id="districts/d1/clever")


@pytest.fixture
def pulled(deps: Deps) -> Deps:
    deps.repo.put_settings(DistrictSettings(district_id=D, source=CLEVER))
    return deps


def test_fetch_pulls_through_the_port_into_the_syncs_raw_prefix(pulled: Deps) -> None:
    puller = ScriptedPuller()
    pulled.puller = puller

    out = pull.fetch(FetchInput(step="fetch", **ref("s1")), pulled)

    assert puller.calls == [(CLEVER, "syncs/d1/s1/raw/", pulled.clock().date())]
    assert (out.outcome, out.pages, out.records, out.manifest_key) == (
        "fetched",
        1,
        2,
        "syncs/d1/s1/fetch.json",
    )
    manifest = read_manifest(pulled.raw, "syncs/d1/s1/fetch.json")
    assert manifest.entities["users"].keys == ["syncs/d1/s1/raw/users/page-00001.ndjson"]
    record = pulled.repo.get_sync(D, "s1")
    assert record is not None and record.counts["fetched"] == {"users": 2}


def test_rejected_credentials_hold_the_sync_on_credentials(pulled: Deps) -> None:
    pulled.puller = ScriptedPuller(error=CredentialsError("Clever rejected the token (HTTP 401)", status=401))

    out = pull.fetch(FetchInput(step="fetch", **ref("s1")), pulled)

    assert (out.outcome, out.hold, out.reason) == (
        "held",
        "credentials",
        "Clever rejected the token (HTTP 401)",
    )


def test_a_paused_source_pauses_the_sync(pulled: Deps) -> None:
    pulled.puller = ScriptedPuller(error=SourcePausedError("Clever pauses syncing until 2025-08-01"))

    out = pull.fetch(FetchInput(step="fetch", **ref("s1")), pulled)

    assert (out.outcome, out.reason) == ("paused", "Clever pauses syncing until 2025-08-01")


def test_a_pushed_district_is_not_pulled(deps: Deps) -> None:
    puller = ScriptedPuller()
    deps.puller = puller

    out = pull.fetch(FetchInput(step="fetch", **ref("s1")), deps)

    assert (out.outcome, puller.calls) == ("push", [])


def test_a_pulled_district_without_a_puller_fails_naming_the_gap(pulled: Deps) -> None:
    with pytest.raises(SourceConfigError, match="no source puller is configured"):
        pull.fetch(FetchInput(step="fetch", **ref("s1")), pulled)
