"""Per-district settings (pydantic), with the defaults of the hold catalogue.

Settings are read once (from the district table, a JSON file for the preflight CLI, or the API)
and passed down; domain code never reads the environment.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rostersync.sources import SftpPushSource, SourceSettings

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# How removals are held (docs/holds.md): "hold_over_threshold" only past the mass_removal
# thresholds (the default); "hold_always": any removal of people or enrollments at a school holds
# that school (a ``mass_removal`` hold whose message names the setting); "never_automatic": any
# removal of any entity holds, and the additions and changes of the schools held only for
# removals apply at once (the removals wait for an admin's release).
RemovalsMode = Literal["hold_over_threshold", "hold_always", "never_automatic"]
REMOVALS_MODES: tuple[str, ...] = RemovalsMode.__args__  # type: ignore[attr-defined]
# Which days count towards a district's sync cadence.
SyncDays = Literal["every_day", "weekdays"]
MAX_EXPECTED_SYNC_HOURS = 31 * 24


class HoldSettings(BaseModel):
    """Thresholds of the safety holds. Percentages are 0-100; a hold trips when *exceeded*."""

    model_config = ConfigDict(extra="forbid")

    mass_removal_percent: float = Field(10.0, ge=0, le=100)
    mass_removal_min_count: int = Field(5, ge=0)
    mass_update_percent: float = Field(75.0, ge=0, le=100)
    mass_update_min_count: int = Field(5, ge=0)
    max_contacts_per_student: int = Field(6, ge=1)
    # "hold": new emergency/secondary contacts hold the sync; "drop": they are removed from the
    # staged data before the diff; "allow": they are synced like any other contact.
    emergency_contacts: Literal["hold", "drop", "allow"] = "hold"
    emergency_contact_types: list[str] = Field(default_factory=lambda: ["Emergency", "Secondary"])
    class_id_reuse: bool = True
    stale_upload_days: int = Field(90, ge=1)
    schools_not_found: bool = True
    # Suspected source-ID changes (a removed and an added person matched on email or name and
    # birth date) hold their school when they strictly exceed this percent of the school's people
    # and number at least the minimum; released (or below the threshold) they apply as re-keys.
    id_change_percent: float = Field(5.0, ge=0, le=100)
    id_change_min_count: int = Field(5, ge=0)


class PauseWindow(BaseModel):
    """A summer pause: uploads are kept but not processed from ``first_day`` to ``last_day``."""

    model_config = ConfigDict(extra="forbid")

    first_day: date
    last_day: date

    @model_validator(mode="after")
    def _ordered(self) -> PauseWindow:
        if self.last_day < self.first_day:
            raise ValueError("last_day must be on or after first_day")
        return self

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


def ordered_pause_windows(windows: list[PauseWindow]) -> list[PauseWindow]:
    """``windows`` sorted by first day; ValueError if two of them overlap."""
    ordered = sorted(windows, key=lambda w: w.first_day)
    for earlier, later in itertools.pairwise(ordered):
        if later.first_day <= earlier.last_day:
            raise ValueError(
                f"pause windows overlap: {earlier.first_day}..{earlier.last_day} and "
                f"{later.first_day}..{later.last_day}"
            )
    return ordered


class SafetyFloors(BaseModel):
    """Limits an operator sets on what a district admin may configure, so that no settings change
    can switch the safety holds off: the loosest threshold an admin may choose for each hold, the
    longest pause window, and at least one admin email (someone must read the hold emails).

    The defaults apply to every district; an operator may set others for one district (the
    ``floors`` field of :class:`DistrictSettings`, which only an operator may change)."""

    model_config = ConfigDict(extra="forbid")

    max_mass_removal_percent: float = Field(50.0, ge=0, le=100)
    max_mass_update_percent: float = Field(95.0, ge=0, le=100)
    max_id_change_percent: float = Field(50.0, ge=0, le=100)
    max_min_count: int = Field(100, ge=0)
    max_contacts_per_student: int = Field(20, ge=1)
    max_stale_upload_days: int = Field(365, ge=1)
    max_pause_window_days: int = Field(120, ge=1, le=366)
    require_admin_email: bool = True


class DistrictSettings(BaseModel):
    """Everything a district can configure."""

    model_config = ConfigDict(extra="forbid")

    district_id: str = Field("default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    name: str | None = None
    admin_emails: list[str] = Field(default_factory=list)
    # Schools to sync; empty means every school in the source data.
    school_ids: list[str] = Field(default_factory=list)
    # Contact types never synced (e.g. ["Emergency"]): dropped before the diff.
    excluded_contact_types: list[str] = Field(default_factory=list)
    holds: HoldSettings = Field(default_factory=HoldSettings)
    hold_expiry_days: int = Field(14, ge=1, le=365)
    pause_windows: list[PauseWindow] = Field(default_factory=list)
    # Where the roster comes from: SFTP uploads (default) or a scheduled pull (Clever API,
    # OneRoster REST, the district's SFTP site); see rostersync.sources.
    source: SourceSettings = Field(default_factory=SftpPushSource)
    # How phone numbers written without a country code are read (ISO 3166 region, e.g. "US",
    # "CA", "GB"); see docs/formats.md.
    phone_region: str = Field("US", min_length=2, max_length=3)
    # What a district admin may not go beyond (None: the defaults of SafetyFloors); operator only.
    floors: SafetyFloors | None = None
    # The IANA time zone pause windows' days are read in (and the day-before reminders sent).
    time_zone: str = Field("UTC", min_length=1, max_length=64)
    # An incomplete upload becomes an ``invalid_files`` hold this long after its quiet period.
    missing_files_grace_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    # Admins are reminded of an undecided hold this long before it expires.
    hold_reminder_hours: int = Field(48, ge=1, le=365 * 24)
    # When removals hold: past the mass_removal thresholds, always, or never applied
    # automatically (see RemovalsMode).
    removals: RemovalsMode = "hold_over_threshold"
    # The district's sync cadence (the overdue alarm and email, docs/deploy.md "Monitoring"): its
    # newest accepted version is overdue once older than this many hours; None: the stack's
    # default (SyncCadenceAlarmHours). With "weekdays", Saturdays and Sundays on the district's
    # calendar are not counted (a district that uploads on school days only).
    expected_sync_hours: int | None = Field(None, ge=1, le=MAX_EXPECTED_SYNC_HOURS)
    expected_sync_days: SyncDays = "every_day"

    @field_validator("admin_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(EMAIL_PATTERN, v)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return value

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"not a region phone numbers can be read for: {value} (use e.g. US, CA, GB)")
        return region

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        name = value.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            hint = next((z for z in sorted(available_timezones()) if z.lower() == name.lower()), None)
            also = f" (did you mean {hint}?)" if hint else " (an IANA name such as America/Chicago, or UTC)"
            raise ValueError(f"not a time zone: {value}{also}") from None
        return name

    @field_validator("pause_windows")
    @classmethod
    def _no_overlap(cls, value: list[PauseWindow]) -> list[PauseWindow]:
        return ordered_pause_windows(value)

    def paused_on(self, day: date) -> PauseWindow | None:
        return next((w for w in self.pause_windows if w.contains(day)), None)

    def local_date(self, moment: datetime) -> date:
        """The district's calendar day at ``moment`` (its ``time_zone``; a naive time is UTC)."""
        zone = ZoneInfo(self.time_zone)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        return moment.astimezone(zone).date()

    def paused_at(self, moment: datetime) -> PauseWindow | None:
        """The pause window in force at ``moment``, on the district's calendar."""
        return self.paused_on(self.local_date(moment))


def floor_violations(settings: DistrictSettings) -> list[tuple[tuple[str, ...], str]]:
    """Where ``settings`` go beyond their safety floors: (field path, what is allowed) pairs, in
    words a district admin can act on. Empty when every floor is kept."""
    floors = settings.floors or SafetyFloors()
    h = settings.holds
    found: list[tuple[tuple[str, ...], str]] = []
    if floors.require_admin_email and not settings.admin_emails:
        found.append(
            (("admin_emails",), "at least one admin email is required: hold emails must reach someone")
        )
    limits = (
        ("mass_removal_percent", h.mass_removal_percent, floors.max_mass_removal_percent, " %"),
        ("mass_update_percent", h.mass_update_percent, floors.max_mass_update_percent, " %"),
        ("mass_removal_min_count", h.mass_removal_min_count, floors.max_min_count, ""),
        ("mass_update_min_count", h.mass_update_min_count, floors.max_min_count, ""),
        ("id_change_percent", h.id_change_percent, floors.max_id_change_percent, " %"),
        ("id_change_min_count", h.id_change_min_count, floors.max_min_count, ""),
        ("max_contacts_per_student", h.max_contacts_per_student, floors.max_contacts_per_student, ""),
        ("stale_upload_days", h.stale_upload_days, floors.max_stale_upload_days, " days"),
    )
    for name, value, limit, unit in limits:
        if value > limit:
            found.append(
                (
                    ("holds", name),
                    f"at most {limit:g}{unit}, the limit the operator set ({value:g}{unit} would "
                    "all but switch this hold off)",
                )
            )
    for i, window in enumerate(settings.pause_windows):
        days = (window.last_day - window.first_day).days + 1
        if days > floors.max_pause_window_days:
            found.append(
                (
                    ("pause_windows", str(i)),
                    f"a pause window may last at most {floors.max_pause_window_days} days; "
                    f"{window.first_day}..{window.last_day} lasts {days}",
                )
            )
    return found


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flat(item, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): value}


def settings_changes(old: DistrictSettings, new: DistrictSettings) -> dict[str, dict[str, Any]]:
    """Every field that differs, by dotted path (``holds.mass_removal_percent``), with its old and
    new value as JSON: what the audit entry of a settings change records."""
    before, after = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }
