"""The scheduled pulls of the local product: each district's own pull times, in its time zone.

On AWS, EventBridge Scheduler invokes the ingest function with
``{"source": "rostersync.scheduler", "district_id": ..., "scheduled_time": ...}`` at each of a
district's pull times (the schedules onboarding creates, :mod:`rostersync.aws.provisioning`).
Locally :class:`PullScheduler` does the same from the district profiles in the table: every few
seconds it finds the pull times that came due since its last look (:func:`due_pulls`) and
invokes the ingest function with that event, so the real scheduled-pull path runs (one sync per
district and scheduled time). A pull time that passed while serve was not running is not caught
up, as a schedule created later would not be. Development only: nothing here is deployed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rostersync.api.onboarding_models import DistrictProfile

Log = Callable[[str], None]
CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class DuePull:
    district_id: str
    scheduled_time: datetime  # UTC

    def event(self) -> dict[str, Any]:
        """The event EventBridge Scheduler would send the ingest function."""
        return {
            "source": "rostersync.scheduler",
            "district_id": self.district_id,
            "scheduled_time": self.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def due_pulls(
    profiles: Iterable[DistrictProfile], pulled: set[str], since: datetime, until: datetime
) -> list[DuePull]:
    """The pulls of active ``pulled`` districts whose local pull time falls in ``(since, until]``."""
    due = []
    for profile in profiles:
        if profile.status != "active" or profile.district_id not in pulled or not profile.pull_times:
            continue
        zone = ZoneInfo(profile.time_zone)
        first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        for day in days:
            for at in profile.pull_times:
                moment = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
                if since < moment <= until:
                    due.append(DuePull(profile.district_id, moment))
    return sorted(due, key=lambda d: (d.scheduled_time, d.district_id))


class PullScheduler:
    """A thread that fires the districts' due pulls through ``fire`` (the ingest function)."""

    def __init__(
        self,
        districts: Callable[[], tuple[list[DistrictProfile], set[str]]],
        fire: Callable[[DuePull], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = CHECK_SECONDS,
        log: Log | None = None,
    ) -> None:
        self.districts, self.fire, self.clock, self.interval = districts, fire, clock, interval
        self.log: Log = log or (lambda _line: None)
        self._since = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rostersync-schedules", daemon=True)

    def check(self) -> list[DuePull]:
        """Fire what came due since the last check; what was fired."""
        now = self.clock()
        profiles, pulled = self.districts()
        due = due_pulls(profiles, pulled, self._since, now)
        self._since = now
        for pull in due:
            self.log(
                f"[cyan]{pull.district_id}[/cyan] scheduled pull of "
                f"{pull.scheduled_time:%H:%M} UTC: starting the sync"
            )
            self.fire(pull)
        return due

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.log(f"[yellow]scheduled pulls: {exc}[/yellow]")

    def start(self) -> PullScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
