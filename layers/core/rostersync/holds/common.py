"""What the hold rules share: grouping rows by school, counting, exact thresholds, samples.

Every rule reduces its hits to a (school, key, …) table with :func:`groups` and lets
:func:`tripped_groups` count them per school with Arrow group-bys, compare them with the
threshold in exact arithmetic and take the sample IDs; Python only loops over the few groups
that tripped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet, EntityChanges
from rostersync.model import Entity
from rostersync.records import Hold, HoldType
from rostersync.reports import display_key

SAMPLE_LIMIT = 20
# Group key of rows without a school (a null key would not join); no real school ID is empty.
NO_SCHOOL = ""

SCHOOL = "school"
KEY = "key"
COUNT = "count_all"


# -- small helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrippedGroup:
    """One school (or the district, ``school_id`` None) where a rule tripped."""

    school_id: str | None
    numerator: int
    denominator: int | None
    samples: pa.Table  # up to SAMPLE_LIMIT rows of the hits, sorted by key

    @property
    def sample_ids(self) -> list[str]:
        return [str(k) for k in self.samples.column(KEY).to_pylist() if k is not None]

    def hold(
        self,
        hold_type: HoldType,
        message: str,
        *,
        entity: str | None = None,
        threshold: float | None = None,
        sample_ids: list[str] | None = None,
    ) -> Hold:
        """The hold this group trips: its school, counts and samples, in ``message``'s words."""
        return Hold(
            type=hold_type,
            school_id=self.school_id,
            entity=entity,
            numerator=self.numerator,
            denominator=self.denominator,
            threshold=threshold,
            message=message,
            sample_ids=self.sample_ids if sample_ids is None else sample_ids,
        )


def is_school_scoped(entity: Entity) -> bool:
    """Whether holds on this entity are counted per school (the schools table is district-wide)."""
    return entity.name != "schools" and "school_id" in entity.schema.names


def noun(entity: Entity) -> str:
    return entity.name.replace("_", " ")


def where(school_id: str | None, *, scoped: bool = True) -> str:
    """How a message names the scope of a hold."""
    if not scoped:
        return "District"
    if school_id is None:
        return "Records with no school"
    return f"School {school_id}"


def pct(numerator: int, denominator: int | None) -> str:
    if not denominator:
        return "n/a"
    return f"{100.0 * numerator / denominator:.1f} %"


def limit_text(value: float) -> str:
    return f"{value:g}"


def groups(table: pa.Table, entity: Entity, school_column: str = "school_id") -> pa.Table:
    """``table`` reduced to (school, key, …): the school group key (NO_SCHOOL for null or for a
    district-wide entity) and the display key."""
    n = table.num_rows
    if is_school_scoped(entity) and school_column in table.column_names:
        school = pc.fill_null(table.column(school_column).cast(pa.string()), NO_SCHOOL)
    else:
        school = pa.repeat(pa.scalar(NO_SCHOOL), n)
    return pa.table({SCHOOL: school, KEY: display_key(table, entity)})


def count_by_school(groups: pa.Table, name: str) -> pa.Table:
    counts = groups.group_by(SCHOOL).aggregate([([], COUNT)])
    return counts.rename_columns([SCHOOL, name])


def exceeds(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray, percent: float) -> pa.ChunkedArray:
    """numerator / denominator > percent %, in exact integer arithmetic (10 % of 501 is 50.1, so
    50 removals pass and 51 trip; a float threshold is read as the decimal the admin typed)."""
    limit = Fraction(str(percent))
    left = pc.multiply_checked(numerator, pa.scalar(100 * limit.denominator, pa.int64()))
    right = pc.multiply_checked(denominator, pa.scalar(limit.numerator, pa.int64()))
    return pc.greater(left, right)


def samples_of(hits: pa.Table, schools: list[str], limit: int = SAMPLE_LIMIT) -> dict[str, pa.Table]:
    """The first ``limit`` hits (by key) of each of ``schools``: one sort, then slices."""
    if not schools:
        return {}
    subset = hits.filter(pc.is_in(hits.column(SCHOOL), value_set=pa.array(schools, pa.string())))
    subset = subset.sort_by([(SCHOOL, "ascending"), (KEY, "ascending")])
    counts = subset.group_by(SCHOOL).aggregate([([], COUNT)]).sort_by(SCHOOL).to_pylist()
    out, start = {}, 0
    for row in counts:
        out[row[SCHOOL]] = subset.slice(start, min(row[COUNT], limit))
        start += row[COUNT]
    return out


def tripped_groups(
    hits: pa.Table,
    base: pa.Table | None,
    *,
    percent: float | None = None,
    min_count: int = 1,
    denominators: pa.Table | None = None,
) -> list[TrippedGroup]:
    """Schools where the hits trip a rule.

    ``hits`` and ``base`` are (school, key, …) tables from :func:`groups`. The numerator is the
    hits per school, the denominator the ``base`` rows of that school, or the school's row of
    ``denominators`` ((school, denominator) counts, given instead of ``base``); None without
    either. A school trips when numerator >= ``min_count`` and, if ``percent`` is given,
    numerator / denominator strictly exceeds it.
    """
    if hits.num_rows == 0:
        return []
    table = count_by_school(hits, "numerator")
    if base is not None:
        denominators = count_by_school(base, "denominator")
    if denominators is not None:
        table = table.join(denominators.select([SCHOOL, "denominator"]), SCHOOL, join_type="left outer")
        table = table.set_column(
            table.schema.get_field_index("denominator"),
            "denominator",
            pc.fill_null(table.column("denominator"), 0),
        )
    mask = pc.greater_equal(table.column("numerator"), pa.scalar(max(min_count, 1), pa.int64()))
    if percent is not None and denominators is not None:
        mask = pc.and_(mask, exceeds(table.column("numerator"), table.column("denominator"), percent))
    tripped = table.filter(mask).sort_by(SCHOOL).to_pylist()
    samples = samples_of(hits, [row[SCHOOL] for row in tripped])
    return [
        TrippedGroup(
            school_id=None if row[SCHOOL] == NO_SCHOOL else row[SCHOOL],
            numerator=int(row["numerator"]),
            denominator=int(row["denominator"]) if denominators is not None else None,
            samples=samples[row[SCHOOL]],
        )
        for row in tripped
    ]


def entity_changes(changes: ChangeSet, entity: Entity) -> EntityChanges | None:
    return changes.entities.get(entity.name)


def lower_set(values: Sequence[str]) -> pa.Array:
    return pa.array(sorted({v.strip().lower() for v in values}), pa.string())


def normalized(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.utf8_lower(pc.utf8_trim_whitespace(column))
