"""Pydantic records that leave the domain: holds and per-school change counts.

A hold stores the numbers that explain it (numerator, denominator, threshold) so an admin reads
"would remove 230 of 501 students (45.9 %, limit 10 %)" rather than a bare flag.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

HoldType = Literal[
    "mass_removal",
    "mass_update",
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
