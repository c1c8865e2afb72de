"""Operations metrics of every district: how long a sync has waited on hold, how long since the
district's last accepted sync, and whether that is overdue for the district's own cadence (no
stage of its own; see ``docs/deploy.md``, Monitoring).

:func:`district_health` reads them from the records (the district's sync records, its newest
version's manifest) and its settings (``expected_sync_hours``, default the stack's
``SYNC_CADENCE_HOURS``; ``expected_sync_days``: with ``weekdays`` the weekend hours on the
district's calendar do not count). :func:`report_health` puts them as CloudWatch metrics in the
embedded metric format through Powertools: one metric set per district (dimension
``district_id``, for the dashboard: ``SyncOverdue`` 1 or 0 among them) and the stack-wide values
(``OldestHeldSyncAgeDays``, ``MaxHoursSinceLastAccepted`` and ``OverdueDistricts``, the count
the cadence alarm watches). It is called from a place that runs regularly: the pull schedule's
invocation (:func:`rostersync.pipeline.pull.start_scheduled`), and the scheduled tick
(:mod:`rostersync.pipeline.tick`), which also emails a district's admins once when it goes
overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from rostersync.pipeline.layout import district_prefix
from rostersync.pipeline.ports import Deps
from rostersync.settings import DistrictSettings
from rostersync.snapshot import SnapshotError, latest_version, read_manifest, version_prefix

# The statuses of a sync that waits on an admin's decision.
_WAITING = frozenset({"held", "partially_applied"})
HELD_AGE = "HeldSyncAgeDays"
SINCE_ACCEPTED = "HoursSinceLastAccepted"
SYNC_OVERDUE = "SyncOverdue"
OLDEST_HELD = "OldestHeldSyncAgeDays"
MAX_SINCE_ACCEPTED = "MaxHoursSinceLastAccepted"
OVERDUE_DISTRICTS = "OverdueDistricts"


@dataclass(frozen=True)
class DistrictHealth:
    """``held_sync_age_days``: age of the oldest sync waiting on a decision (0 when none waits);
    ``hours_since_last_accepted``: since the newest version was promoted (None before the first,
    or when it cannot be read). A district in a pause window is expected not to sync.
    ``expected_sync_hours``: its cadence; ``counted_hours``: the hours since its newest version
    that count against it (weekends left out for a weekdays-only district); ``last_version``:
    that version's number."""

    district_id: str
    held_sync_age_days: float
    hours_since_last_accepted: float | None
    paused: bool
    expected_sync_hours: int | None = None
    counted_hours: float | None = None
    last_version: int | None = None

    @property
    def overdue(self) -> bool:
        """The newest accepted version is older than the cadence (never while paused, nor
        before the district's first version)."""
        return (
            not self.paused
            and self.counted_hours is not None
            and self.expected_sync_hours is not None
            and self.counted_hours > self.expected_sync_hours
        )


def weekday_hours(start: datetime, end: datetime, zone: ZoneInfo) -> float:
    """Hours between ``start`` and ``end`` (aware) that fall Monday to Friday in ``zone``."""
    total = timedelta()
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    while day <= last:  # one step per calendar day: a few hundred at most
        if day.weekday() < 5:
            low = max(start, datetime.combine(day, time(), zone))
            high = min(end, datetime.combine(day + timedelta(days=1), time(), zone))
            if high > low:
                total += high - low
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def district_health(deps: Deps, settings: DistrictSettings, now: datetime) -> DistrictHealth:
    district_id = settings.district_id
    waiting = [r.created_at for r in deps.repo.list_syncs(district_id) if r.status in _WAITING]
    held_days = (now - min(waiting)).total_seconds() / 86400 if waiting else 0.0
    accepted = _last_accepted(deps, district_id)
    expected = settings.expected_sync_hours or deps.config.sync_cadence_hours
    since = counted = None
    if accepted is not None:
        since = round(max((now - accepted[1]).total_seconds() / 3600, 0.0), 2)
        counted = (
            round(weekday_hours(accepted[1], now, ZoneInfo(settings.time_zone)), 2)
            if settings.expected_sync_days == "weekdays"
            else since
        )
    return DistrictHealth(
        district_id=district_id,
        held_sync_age_days=round(max(held_days, 0.0), 3),
        hours_since_last_accepted=since,
        paused=settings.paused_at(now) is not None,
        expected_sync_hours=expected,
        counted_hours=counted,
        last_version=accepted[0] if accepted is not None else None,
    )


def _last_accepted(deps: Deps, district_id: str) -> tuple[int, datetime] | None:
    """The newest version's number and creation time (None before the first, or unreadable)."""
    prefix = district_prefix(district_id)
    try:
        version = latest_version(deps.snapshots, prefix)
        if version is None:
            return None
        manifest = read_manifest(deps.snapshots, version_prefix(deps.snapshots, prefix, version))
    except SnapshotError:
        return None
    return version, manifest.created_at


def stack_health(deps: Deps, now: datetime) -> list[DistrictHealth]:
    """The health of every district."""
    return [district_health(deps, s, now) for s in deps.repo.list_settings()]


def put_health_metrics(healths: list[DistrictHealth]) -> None:
    """Write the metrics (EMF on stdout, which Lambda's log group turns into CloudWatch metrics).

    A paused district's hours since its last version are left out: it is not expected to sync.
    """
    unit = MetricUnit.NoUnit  # days and hours: the metric names carry the unit CloudWatch lacks
    expected = [h for h in healths if h.hours_since_last_accepted is not None and not h.paused]
    for health in healths:
        metrics = EphemeralMetrics()
        metrics.add_dimension(name="district_id", value=health.district_id)
        metrics.add_metric(name=HELD_AGE, unit=unit, value=health.held_sync_age_days)
        if health in expected:
            metrics.add_metric(name=SINCE_ACCEPTED, unit=unit, value=health.hours_since_last_accepted or 0.0)
        metrics.add_metric(name=SYNC_OVERDUE, unit=MetricUnit.Count, value=int(health.overdue))
        metrics.flush_metrics()
    if not healths:
        return
    worst = EphemeralMetrics()
    worst.add_metric(name=OLDEST_HELD, unit=unit, value=max(h.held_sync_age_days for h in healths))
    if expected:
        hours = max(h.hours_since_last_accepted or 0.0 for h in expected)
        worst.add_metric(name=MAX_SINCE_ACCEPTED, unit=unit, value=hours)
    worst.add_metric(name=OVERDUE_DISTRICTS, unit=MetricUnit.Count, value=sum(h.overdue for h in healths))
    worst.flush_metrics()


def report_health(deps: Deps) -> list[DistrictHealth]:
    """Compute and put the metrics of every district; what was put."""
    healths = stack_health(deps, deps.clock())
    put_health_metrics(healths)
    return healths
