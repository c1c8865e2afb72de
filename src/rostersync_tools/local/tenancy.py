"""The districts of one ``rostersync serve``: who is onboarded at start, their SFTP logins, the
sample sources, the scheduled pulls, and what ``serve.json`` says about them.

:class:`LocalTenancy` is what :class:`~rostersync_tools.local.serve.LocalProduct` delegates to for
everything multi-district: it onboards the main district (``--sftp-password``,
``--sftp-authorized-keys``), each ``--district`` and, with ``--with-sample-sources``, the two
districts pulled from the local Clever and OneRoster sources (:mod:`.districts`,
:mod:`.sample_sources`); it gives the SFTP server its accounts (the table's user records, plus
the local passwords) and runs the districts' pull times (:mod:`.schedules`). Development only:
nothing here is deployed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rostersync_tools.local.districts import (
    CLIENT_KEY_NAME,
    LocalDistrict,
    RecordedAccounts,
    client_key,
    onboard,
    passwords_for,
    sample_source_districts,
    write_known_hosts,
)
from rostersync_tools.local.routing import serialized
from rostersync_tools.local.schedules import DuePull, PullScheduler

if TYPE_CHECKING:
    from rostersync.api.deps import ApiDeps
    from rostersync.api.onboarding_models import DistrictProfile
    from rostersync_tools.local.sample_sources import JsonServer
    from rostersync_tools.local.serve import ServeOptions
    from rostersync_tools.local.sftp import InboxSftpServer

Log = Callable[[str], None]


class LocalTenancy:
    def __init__(self, options: ServeOptions, log: Log) -> None:
        self.options = options
        self.log = log
        self.districts: list[LocalDistrict] = []
        self.passwords: dict[str, str | None] = {}
        self._sources: list[JsonServer] = []
        self._scheduler: PullScheduler | None = None

    def onboard(self, deps: ApiDeps) -> list[LocalDistrict]:
        """Onboard every district as an operator would (the table is empty at each start)."""
        options = self.options
        _, public_key = client_key(options.workdir)
        authorized: tuple[str, ...] = ()
        if options.sftp_authorized_keys is not None:
            lines = options.sftp_authorized_keys.read_text(encoding="utf-8").splitlines()
            authorized = tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
        main = LocalDistrict(
            district_id=options.district_id,
            name=options.district_name,
            admin_email=options.admin_email,
            sftp_user=options.sftp_user,
            sftp_password=options.sftp_password,
            extra_public_keys=authorized,
        )
        self.districts = [main, *options.extra_districts, *self._start_sample_sources()]
        for district in self.districts:
            onboard(deps, district, public_key)
        self.passwords = dict(passwords_for(self.districts))
        if options.sftp_authorized_keys is not None and options.sftp_password is None:
            self.passwords[options.sftp_user] = None  # key only, as asked
        return self.districts

    def accounts(self, deps: ApiDeps) -> RecordedAccounts:
        """The SFTP accounts: the table's user records, with the local passwords."""
        assert deps.onboarding is not None, "the local API deps have no onboarding adapters"
        return RecordedAccounts(deps.onboarding.directory, {u: p for u, p in self.passwords.items() if p})

    def _start_sample_sources(self) -> list[LocalDistrict]:
        """With ``with_sample_sources``: the local Clever and OneRoster sources, and a district
        pulled from each, first at the next whole minute (UTC)."""
        if not self.options.with_sample_sources:
            return []
        from rostersync_tools.local.sample_sources import SampleClever, SampleOneRoster

        # The sample OneRoster's token endpoint is plain http on loopback, which oauthlib refuses
        # unless told (serve restores the environment when it stops).
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        clever = SampleClever(host=self.options.host)
        oneroster = SampleOneRoster(host=self.options.host)
        self._sources += [clever.start(), oneroster.start()]
        first_pull = (datetime.now(UTC) + timedelta(minutes=1)).time().replace(second=0, microsecond=0)
        districts = sample_source_districts(clever, oneroster, first_pull)
        for district in districts:
            self.log(
                f"[cyan]{district.district_id}[/cyan] is pulled from {(district.source or {})['base_url']} "
                f"daily at {first_pull:%H:%M} UTC (now: rostersync districts pull {district.district_id})"
            )
        return districts

    def start_schedules(self, deps: Callable[[], ApiDeps], invoke: Callable[[dict[str, Any]], None]) -> None:
        """Run the districts' pull times: ``invoke`` the ingest function with each due event."""

        def fire(pull: DuePull) -> None:
            invoke(pull.event())

        self._scheduler = PullScheduler(
            lambda: districts_to_pull(deps()), fire, interval=self.options.pull_check_seconds, log=self.log
        ).start()

    def extra(self, sftp: InboxSftpServer, admin_token: Callable[[str, str], str]) -> dict[str, Any]:
        """What serve.json says about the districts: each admin's token and SFTP login, and
        the SFTP client key and host key (also written to ``<workdir>/known_hosts``)."""
        host, port = sftp.address
        known_hosts = write_known_hosts(self.options.workdir, host, port, sftp.host_key)
        return {
            "sftp_client_key": str((self.options.workdir / CLIENT_KEY_NAME).resolve()),
            "sftp_known_hosts": str(known_hosts.resolve()),
            "sftp_known_hosts_line": known_hosts.read_text(encoding="utf-8").strip(),
            "districts": [
                {
                    "district_id": d.district_id,
                    "name": d.name,
                    "admin_email": d.admin_email,
                    "admin_token": admin_token(d.district_id, d.admin_email),
                    "sftp_user": d.sftp_user,
                    "sftp_password": self.passwords.get(d.sftp_user),
                }
                for d in self.districts
            ],
        }

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        for source in self._sources:
            source.stop()
        self._sources.clear()


def districts_to_pull(deps: ApiDeps) -> tuple[list[DistrictProfile], set[str]]:
    """The district profiles and the ids of the districts whose source is pulled."""
    from rostersync.sources import PULL_KINDS

    with serialized():
        profiles = deps.onboarding.directory.list_profiles() if deps.onboarding is not None else []
        pulled = {s.district_id for s in deps.repo.list_settings() if s.source.kind in PULL_KINDS}
    return profiles, pulled
