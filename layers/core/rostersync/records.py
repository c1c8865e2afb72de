"""Pydantic records that leave the domain: holds and per-school change counts.

A hold stores the numbers that explain it (numerator, denominator, threshold) so an admin reads
"would remove 230 of 501 students (45.9 %, limit 10 %)" rather than a bare flag.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from rostersync.redact import safe_id
from rostersync.storage import BlobNotFoundError, BlobStore

HoldType = Literal[
    "mass_removal",
    "mass_update",
    "id_change",
    "too_many_contacts",
    "emergency_contacts",
    "class_id_reuse",
    "stale_upload",
    "invalid_files",
    "schools_not_found",
    "credentials",
    "disconnected",
]

HOLD_TYPES: tuple[str, ...] = HoldType.__args__  # type: ignore[attr-defined]


class Hold(BaseModel):
    """One tripped safety rule, for one school (or district-wide when ``school_id`` is None)."""

    type: HoldType
    school_id: str | None = None
    entity: str | None = None
    numerator: int = 0
    denominator: int | None = None
    # Percent for ratio rules, a count for count rules (e.g. contacts per student), days for
    # stale_upload; None where the rule has no threshold.
    threshold: float | None = None
    message: str
    sample_ids: list[str] = Field(default_factory=list)

    @field_validator("sample_ids")
    @classmethod
    def _no_personal_ids(cls, ids: list[str]) -> list[str]:
        """A sample ID the reader built from a person's name, email or phone is masked: holds
        reach emails, the API and DynamoDB."""
        return [safe_id(i) for i in ids]

    @property
    def percent(self) -> float | None:
        if not self.denominator:
            return None
        return 100.0 * self.numerator / self.denominator


class EntityCounts(BaseModel):
    """Change counts of one entity type in one school (school_id None: not school-scoped)."""

    entity: str
    school_id: str | None
    baseline: int
    staged: int
    added: int
    removed: int
    changed: int
    # Re-keyed people (one id_changed each, in the new record's school; neither added nor
    # removed). 0 in a summary written before re-keys were counted.
    id_changed: int = 0


# What an admin can do about each hold, shown next to it in the CLI, the API and emails.
HOLD_RESOLUTIONS: dict[str, str] = {
    "mass_removal": "Review the changes CSV. Release to confirm the removals, reject, or fix the data "
    "in your SIS and send the complete set again.",
    "mass_update": "Review the changes CSV (IDs re-keyed in the SIS look like this). Release or reject.",
    "id_change": "Review the pairs (old ID → new ID) in the changes CSV (change: id_changed). Release "
    "to apply them as ID changes (each person keeps their account under the new ID), or reject and "
    "fix the IDs in your SIS.",
    "too_many_contacts": "Release to create accounts for these contacts, or remove the extra contacts "
    "in your SIS and send the set again.",
    "emergency_contacts": "Release to create accounts for emergency/secondary contacts, or filter them "
    "out of your export (or set emergency contacts to 'drop') and send again.",
    "class_id_reuse": "Use new section IDs for each term. Release only if the reuse is intended.",
    "stale_upload": "Files were not received for a long time; release to confirm their removals.",
    "invalid_files": "Fix the files named here and send the complete set again; nothing was applied.",
    "schools_not_found": "Check the school IDs in your settings against the data, then retry.",
    "credentials": "The source rejected our credentials. Update the secret, then retry.",
    "disconnected": "The source could not be reached. Check the connection, then choose 'I fixed it'.",
}


def read_summary_rows(rows: object) -> list[EntityCounts]:
    """The rows of a stored ``summary.json`` (a list of :func:`rostersync.summary.summarize` rows)
    as records; a row written before a metric existed (``id_changed``) reads it as 0, and
    anything else that is not a summary row is left out."""
    out: list[EntityCounts] = []
    for row in rows if isinstance(rows, list) else []:
        try:
            out.append(EntityCounts.model_validate(row))
        except ValidationError:
            continue
    return out


def load_summary(store: BlobStore, key: str | None) -> list[EntityCounts]:
    """A sync's stored ``summary.json`` (:func:`read_summary_rows`); empty when it has none or
    it cannot be read."""
    if not key:
        return []
    try:
        return read_summary_rows(json.loads(store.get(key)))
    except (BlobNotFoundError, ValueError):
        return []
