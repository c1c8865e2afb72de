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

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.holds.common import COUNT, NO_SCHOOL, SCHOOL, is_school_scoped
from rostersync.model import ENTITY_BY_NAME, Entity
from rostersync.roster import RosterSet
from rostersync.snapshot import counts_by_code

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


def code_counts(school: pa.DictionaryArray) -> pa.Table:
    """(school, denominator) of one dictionary-encoded ``school_id`` array: its rows per
    dictionary value, counted by code without decoding the strings (null: a null school); only
    the values present. Add the parts up with :func:`encoded_school_counts`."""
    values, counted = counts_by_code(school)
    return pa.table({SCHOOL: values, DENOMINATOR: counted})


def encoded_school_counts(parts: Sequence[pa.Table] | None, rows: int, entity: Entity) -> pa.Table:
    """:func:`school_counts` of a table of ``rows`` rows whose ``school_id`` column was counted
    part by part as stored (:func:`code_counts` of each part; None: the file has no such
    column)."""
    if rows == 0:
        return COUNTS_SCHEMA.empty_table()
    if parts is None or not is_school_scoped(entity):
        return pa.table({SCHOOL: [NO_SCHOOL], DENOMINATOR: [rows]}, schema=COUNTS_SCHEMA)
    keyed = pa.concat_tables(parts)
    keyed = keyed.set_column(0, SCHOOL, pc.fill_null(keyed.column(SCHOOL), NO_SCHOOL))
    # A null school and an empty one share the NO_SCHOOL key, as in school_counts; a value
    # counted in several parts is summed.
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
