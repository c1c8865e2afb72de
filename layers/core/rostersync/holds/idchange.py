"""The ``id_change`` rule: a school whose people look re-keyed in the SIS.

A suspected source-ID change is a removed and an added person of one entity that match on email
or on name and birth date (:func:`rostersync.diff.suspected_id_changes`). Per school (the new
record's), the re-keys this sync would apply are counted against the school's people in the
accepted snapshot (students, teachers, staff and contacts); the school holds when they number at
least ``id_change_min_count`` and strictly exceed ``id_change_percent``. The message and samples
name each pair by ID only ("S1 → S9 (email)"): never the email, name or birth date that matched.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet
from rostersync.holds.common import KEY, NO_SCHOOL, SCHOOL, limit_text, pct, tripped_groups, where
from rostersync.holds.counts import DENOMINATOR, RosterCounts, as_counts
from rostersync.model import PERSON_ENTITIES
from rostersync.records import Hold
from rostersync.redact import safe_id
from rostersync.rekeys import MATCH_WORDS, present_pairs
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings

_EXAMPLES = 3


def _people(accepted: RosterCounts) -> pa.Table:
    """(school, denominator): the accepted people of each school, all person entities together."""
    counts = pa.concat_tables([accepted.by_school(e.name) for e in PERSON_ENTITIES])
    summed = counts.group_by(SCHOOL).aggregate([(DENOMINATOR, "sum")])
    return summed.rename_columns([SCHOOL, DENOMINATOR])


def _pair_text(row: dict[str, str]) -> str:
    basis = MATCH_WORDS.get(row["matched_on"], row["matched_on"])
    return f"{safe_id(row[KEY])} → {safe_id(row['new_id'])} ({basis})"


def _bases(hits: pa.Table) -> dict[str, str]:
    """Per school, what matched and how often ("email (10) or name + birth date (2)")."""
    counts = (
        hits.group_by([SCHOOL, "matched_on"])
        .aggregate([([], "count_all")])
        .sort_by([(SCHOOL, "ascending"), ("matched_on", "ascending")])
    )
    out: dict[str, list[str]] = {}
    for row in counts.to_pylist():  # small: schools x two bases
        basis = MATCH_WORDS.get(row["matched_on"], row["matched_on"])
        out.setdefault(row[SCHOOL], []).append(f"{basis} ({row['count_all']:,})")
    return {school: " or ".join(items) for school, items in out.items()}


def id_change(
    changes: ChangeSet, accepted: RosterSet | RosterCounts | None, settings: DistrictSettings
) -> list[Hold]:
    """One ``id_change`` hold per school whose suspected re-keys pass the thresholds."""
    pairs = present_pairs(changes)
    counts = as_counts(accepted)
    if counts is None or not pairs.num_rows:
        return []
    h = settings.holds
    hits = pa.table(
        {
            SCHOOL: pc.fill_null(pairs.column("school_id"), NO_SCHOOL),
            KEY: pairs.column("old_id"),
            "new_id": pairs.column("new_id"),
            "matched_on": pairs.column("matched_on"),
            "entity": pairs.column("entity"),
        }
    )
    holds = []
    bases = _bases(hits)
    people = _people(counts)
    tripped = tripped_groups(
        hits, None, percent=h.id_change_percent, min_count=h.id_change_min_count, denominators=people
    )
    for g in tripped:
        pairs_text = [_pair_text(row) for row in g.samples.to_pylist()]
        more = " …" if g.numerator > _EXAMPLES else ""
        holds.append(
            g.hold(
                "id_change",
                (
                    f"{where(g.school_id)}: {g.numerator:,} of {g.denominator or 0:,} people look re-keyed "
                    f"in the SIS ({pct(g.numerator, g.denominator)}, limit {limit_text(h.id_change_percent)} "
                    f"%): a removed and an added record match on {bases[g.school_id or NO_SCHOOL]}, e.g. "
                    f"{', '.join(pairs_text[:_EXAMPLES])}{more}; released, each applies as an ID change "
                    "(old ID → new ID), not as a removal and an addition"
                ),
                threshold=h.id_change_percent,
                sample_ids=pairs_text,
            )
        )
    return holds
