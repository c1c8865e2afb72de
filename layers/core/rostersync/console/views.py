"""What the console's pages show, in words: statuses, holds, schools and changes.

Everything here shapes what the release API's services returned (and the files a sync wrote);
no rule is decided here. Status is always a word (and a symbol), never a colour alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rostersync.api.models import HoldView, SchoolFindings
from rostersync.pipeline.models import SyncRecord
from rostersync.records import load_summary
from rostersync.storage import BlobNotFoundError, BlobStore

FIRST_ROWS = 25
# The changes CSV's header row, as rostersync.reports writes it (the API has no pyarrow).
_CHANGE_COLUMNS = ("Record type", "School ID", "ID", "Change", "Changed fields", "Old values", "New values")

SCHOOL_STATUS_WORDS: dict[str, str] = {
    "connected": "Connected",
    "on_hold": "On hold",
    "paused": "Paused",
    "not_connected": "Not connected",
    "disconnected": "Disconnected",
    "failed": "Failed",
}
SYNC_STATUS_WORDS: dict[str, str] = {
    "waiting": "Waiting for the quiet period",
    "running": "Processing",
    "held": "On hold: waiting for a decision",
    "partially_applied": "Partly applied: some schools still on hold",
    "applied": "Applied",
    "rejected": "Rejected",
    "failed": "Failed",
    "expired": "Expired without a decision",
    "coalesced": "Folded into a later upload",
    "superseded": "Replaced by a later upload",
    "paused": "Paused: kept until the pause window ends",
}
HOLD_TITLES: dict[str, str] = {
    "mass_removal": "Mass removal",
    "mass_update": "Mass update",
    "id_change": "People re-keyed in the SIS (suspected ID changes)",
    "too_many_contacts": "Too many contacts per student",
    "emergency_contacts": "Emergency or secondary contacts",
    "class_id_reuse": "Section IDs reused from an earlier term",
    "stale_upload": "Files not received for a long time",
    "invalid_files": "Files that could not be read",
    "schools_not_found": "Configured schools missing from the data",
    "credentials": "The source refused our credentials",
    "disconnected": "The source could not be reached",
}
# What ticking a hold type's box confirms when releasing.
HOLD_CONFIRMATIONS: dict[str, str] = {
    "mass_removal": "I reviewed the removals and they are intended",
    "mass_update": "I reviewed the updates and they are intended",
    "id_change": "These are the same people under new IDs: apply them as ID changes",
    "too_many_contacts": "Create accounts for these contacts",
    "emergency_contacts": "Create accounts for emergency and secondary contacts",
    "class_id_reuse": "The section ID reuse is intended",
    "stale_upload": "Apply the removals of the files not received for a long time",
    "invalid_files": "Release although files could not be read",
    "schools_not_found": "Release although configured schools are missing",
    "credentials": "Release although the source refused our credentials",
    "disconnected": "Release although the source could not be reached",
}
STATUS_SYMBOLS: dict[str, str] = {
    "connected": "✓",
    "applied": "✓",
    "held": "!",
    "on_hold": "!",
    "partially_applied": "!",
    "paused": "‖",
    "failed": "×",
    "expired": "×",
    "rejected": "×",
    "disconnected": "×",
    "not_connected": "–",
}


def status_words(status: str, words: Mapping[str, str] = SYNC_STATUS_WORDS) -> str:
    return words.get(status, status.replace("_", " ").capitalize())


def school_label(school_id: str | None, names: Mapping[str, str], district: str = "District-wide") -> str:
    """``Lincoln Elementary (S-1)``: the name with the ID beside; the ID alone without a name."""
    if school_id is None:
        return district
    name = names.get(school_id)
    return f"{name} ({school_id})" if name and name != school_id else school_id


def school_names(snapshots: BlobStore, names_key: str | None) -> dict[str, str]:
    """School ID → name as the sync's diff step saved them (``school_names.json``)."""
    if not names_key:
        return {}
    try:
        names = json.loads(snapshots.get(names_key))
    except (BlobNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def latest_school_names(snapshots: BlobStore, records: Iterable[SyncRecord]) -> dict[str, str]:
    """The names saved by the district's most recent sync that saved any."""
    newest = sorted((r for r in records if r.keys.get("school_names")), key=lambda r: r.created_at)
    return school_names(snapshots, newest[-1].keys["school_names"]) if newest else {}


@dataclass
class HoldLine:
    """One hold as the sync page says it: where, what, the numbers, what to do."""

    type: str
    title: str
    where: str
    sentence: str
    numbers: str | None
    resolution: str


def _numbers(hold: HoldView) -> str | None:
    if hold.denominator and hold.percent is not None:
        limit = f", limit {hold.threshold:g} %" if hold.threshold is not None else ""
        return f"{hold.numerator:,} of {hold.denominator:,} ({hold.percent:g} %{limit})"
    if hold.numerator:
        return f"{hold.numerator:,}"
    return None


def hold_lines(holds: Iterable[HoldView], names: Mapping[str, str]) -> list[HoldLine]:
    """Each hold in plain words: the hold's own message (it carries the numbers), with the
    school named ("School S-1: would remove …" → "Lincoln Elementary (S-1) would remove …")."""
    lines = []
    for hold in holds:
        where = school_label(hold.school_id, names)
        sentence = hold.message
        prefix = f"School {hold.school_id}: " if hold.school_id is not None else ""
        if prefix and sentence.startswith(prefix):
            rest = sentence[len(prefix) :]
            sentence = f"{where} {rest}" if rest.startswith("would ") else f"{where}: {rest}"
        lines.append(
            HoldLine(
                type=hold.type,
                title=HOLD_TITLES.get(hold.type, hold.type),
                where=where,
                sentence=sentence,
                numbers=_numbers(hold),
                resolution=hold.resolution,
            )
        )
    return lines


@dataclass
class SchoolChanges:
    """The changes a sync found in one school, per record type."""

    school_id: str | None
    label: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def changes_by_school(
    snapshots: BlobStore, summary_key: str | None, names: Mapping[str, str]
) -> list[SchoolChanges]:
    """The sync's per-school summary (``summary.json``: one row per record type and school; a
    summary written before re-keys were counted reads ``id_changed`` as 0)."""
    schools: dict[str | None, SchoolChanges] = {}
    for counts in load_summary(snapshots, summary_key):
        row = counts.model_dump()
        if not any(row[k] for k in ("added", "removed", "changed", "id_changed")):
            continue
        school = row["school_id"]
        entry = schools.setdefault(school, SchoolChanges(school, school_label(school, names)))
        entry.rows.append(row)
    return sorted(schools.values(), key=lambda s: (s.school_id is None, s.school_id or ""))


@dataclass
class FirstRows:
    columns: tuple[str, ...]
    rows: list[list[str]]
    more: bool


def first_changes(snapshots: BlobStore, csv_key: str | None, limit: int = FIRST_ROWS) -> FirstRows | None:
    """The first ``limit`` rows of the changes CSV (only those lines are parsed)."""
    if not csv_key:
        return None
    try:
        data = snapshots.get(csv_key)
    except BlobNotFoundError:
        return None
    head = data.split(b"\n", limit + 1)
    more = len(head) > limit + 1 and bool(head[-1].strip())
    text = b"\n".join(head[: limit + 1]).decode("utf-8-sig", errors="replace")
    parsed = list(csv.reader(io.StringIO(text)))
    if not parsed:
        return None
    columns = tuple(parsed[0]) or _CHANGE_COLUMNS
    return FirstRows(columns=columns, rows=[r for r in parsed[1:] if r], more=more)


def held_school_choices(
    findings: Iterable[SchoolFindings], names: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(value, label) of each school a release can name; "" is the district-wide holds."""
    return [
        (f.school_id or "", school_label(f.school_id, names, "District-wide holds"))
        for f in findings
        if f.state == "held"
    ]
