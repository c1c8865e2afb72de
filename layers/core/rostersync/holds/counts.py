"""What the hold rules need of the accepted set: its records per school, entity by entity.

The ratio rules (``mass_removal``, ``mass_update``, ``stale_upload``, ``id_change``) count the
changes of a school against the school's accepted records, and ``invalid_files`` compares an
empty staged entity with the accepted rows: none of them needs the accepted records themselves.
:class:`RosterCounts` holds just those counts (and the receive times), each entity's counted on
first use, from a set in memory (:meth:`RosterCounts.of`) or from the ``school_id`` column of a
stored snapshot (:func:`rostersync.holds.stored.stored_counts`), so the holds step never holds
the accepted set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.holds.common import COUNT, NO_SCHOOL, SCHOOL, is_school_scoped
from rostersync.model import ENTITY_BY_NAME, Entity
from rostersync.roster import RosterSet

DENOMINATOR = "denominator"
COUNTS_SCHEMA = pa.schema([(SCHOOL, pa.string()), (DENOMINATOR, pa.int64())])


def school_counts(table: pa.Table, entity: Entity) -> pa.Table:
    """Rows of ``table`` per school group key, as :func:`rostersync.holds.common.groups` keys
    them (NO_SCHOOL for a null school or a district-wide entity): (school, denominator)."""
    if table.num_rows == 0:
        return COUNTS_SCHEMA.empty_table()
    if is_school_scoped(entity) and "school_id" in table.column_names:
        school = pc.fill_null(table.column("school_id").cast(pa.string()), NO_SCHOOL)
        keyed = pa.table({SCHOOL: school})
        counts = keyed.group_by(SCHOOL).aggregate([([], COUNT)])
        return counts.rename_columns([SCHOOL, DENOMINATOR]).cast(COUNTS_SCHEMA)
    return pa.table({SCHOOL: [NO_SCHOOL], DENOMINATOR: [table.num_rows]}, schema=COUNTS_SCHEMA)


def encoded_school_counts(school: pa.ChunkedArray | None, rows: int, entity: Entity) -> pa.Table:
    """:func:`school_counts` of a table of ``rows`` rows whose ``school_id`` column is
    ``school`` as stored (dictionary-encoded; None: the file has no such column), counted by
    dictionary code without decoding the strings."""
    if rows == 0:
        return COUNTS_SCHEMA.empty_table()
    if school is None or not is_school_scoped(entity):
        return pa.table({SCHOOL: [NO_SCHOOL], DENOMINATOR: [rows]}, schema=COUNTS_SCHEMA)
    found = pc.value_counts(school)
    values = found.field("values")
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    keyed = pa.table(
        {SCHOOL: pc.fill_null(values.cast(pa.string()), NO_SCHOOL), DENOMINATOR: found.field("counts")}
    )
    # A null school and an empty one share the NO_SCHOOL key, as in school_counts.
    summed = keyed.group_by(SCHOOL, use_threads=False).aggregate([(DENOMINATOR, "sum")])
    return summed.rename_columns([SCHOOL, DENOMINATOR]).cast(COUNTS_SCHEMA)


class RosterCounts:
    """Per entity, the accepted records per school (the hold rules' denominators) and in all;
    when each entity's data was received. ``count`` gives one entity's (school, denominator)
    table; it is called at most once per entity, when a rule first needs it. ``rows``: each
    entity's records in all, when known without counting (a snapshot's manifest)."""

    def __init__(
        self,
        count: Callable[[Entity], pa.Table],
        received_at: Mapping[str, datetime],
        rows: Mapping[str, int] | None = None,
    ) -> None:
        self._count = count
        self._by_school: dict[str, pa.Table] = {}
        self._rows = dict(rows) if rows is not None else None
        self.received_at: dict[str, datetime] = dict(received_at)

    @classmethod
    def of(cls, roster: RosterSet) -> RosterCounts:
        """The counts of a set in memory."""
        return cls(lambda entity: school_counts(roster.table(entity.name), entity), roster.received_at)

    def by_school(self, name: str) -> pa.Table:
        """(school, denominator) of entity ``name``: one row per school group key."""
        if name not in self._by_school:
            self._by_school[name] = self._count(ENTITY_BY_NAME[name])
        return self._by_school[name]

    def rows(self, name: str) -> int:
        """The entity's records in all (from ``rows`` when given, else summed per school)."""
        if self._rows is not None:
            return self._rows.get(name, 0)
        return int(pc.sum(self.by_school(name).column(DENOMINATOR)).as_py() or 0)


def as_counts(accepted: RosterSet | RosterCounts | None) -> RosterCounts | None:
    """``accepted`` as counts (a set in memory is counted on use; counts and None pass through)."""
    return RosterCounts.of(accepted) if isinstance(accepted, RosterSet) else accepted
