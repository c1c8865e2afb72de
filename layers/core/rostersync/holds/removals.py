"""The ratio rules over removals and updates: ``mass_removal`` (and the removals modes),
``mass_update`` and ``stale_upload``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet, EntityChanges
from rostersync.holds.common import (
    COUNT,
    NO_SCHOOL,
    SCHOOL,
    TrippedGroup,
    entity_changes,
    groups,
    is_school_scoped,
    limit_text,
    noun,
    pct,
    tripped_groups,
    where,
)
from rostersync.holds.counts import RosterCounts, as_counts
from rostersync.model import ENTITIES, ENTITY_BY_NAME, PERSON_ENTITIES, Entity
from rostersync.records import Hold, HoldType
from rostersync.rekeys import without_rekeyed_removals
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings


def _ratio_rule(
    hold_type: HoldType,
    verb: str,
    hits_of: str,
    changes: ChangeSet,
    accepted: RosterSet | RosterCounts | None,
    percent: float,
    min_count: int,
    entities: Sequence[Entity] = ENTITIES,
) -> list[Hold]:
    counts = as_counts(accepted)
    if counts is None:
        return []
    holds = []
    for entity in entities:
        ec = entity_changes(changes, entity)
        if ec is None:
            continue
        # Changed records are counted in the school they belonged to, like the denominator.
        hits_table = ec.removed if hits_of == "removed" else ec.changed_old
        if hits_table.num_rows == 0:
            continue
        hits = groups(hits_table, entity)
        base = counts.by_school(entity.name)
        extra = _top_changed_fields(ec, entity) if hits_of == "changed" else {}
        scoped = is_school_scoped(entity)
        for g in tripped_groups(hits, None, percent=percent, min_count=min_count, denominators=base):
            message = (
                f"{where(g.school_id, scoped=scoped)}: would {verb} {g.numerator:,} of "
                f"{g.denominator or 0:,} {noun(entity)} ({pct(g.numerator, g.denominator)}, "
                f"limit {limit_text(percent)} %)"
            )
            if extra.get(g.school_id):
                message += f"; most changed: {extra[g.school_id]}"
            holds.append(g.hold(hold_type, message, entity=entity.name, threshold=percent))
    return holds


def _top_changed_fields(ec: EntityChanges, entity: Entity, top: int = 3) -> dict[str | None, str]:
    """Per school, the most often changed fields ("grade (480), email (12)")."""
    fields = pc.cast(ec.changed_fields, pa.list_(pa.string()))
    schools = groups(ec.changed_old, entity).column(SCHOOL)
    flat = pa.table(
        {
            SCHOOL: pc.take(schools, pc.list_parent_indices(fields)),
            "field": pc.list_flatten(fields),
        }
    )
    counts = (
        flat.group_by([SCHOOL, "field"])
        .aggregate([([], COUNT)])
        .sort_by([(SCHOOL, "ascending"), (COUNT, "descending"), ("field", "ascending")])
    )
    out: dict[str | None, list[str]] = {}
    # Small: schools x fields rows.
    for row in counts.to_pylist():
        school = None if row[SCHOOL] == NO_SCHOOL else row[SCHOOL]
        items = out.setdefault(school, [])
        if len(items) < top:
            items.append(f"{row['field']} ({row[COUNT]:,})")
    return {school: ", ".join(items) for school, items in out.items()}


# The entities whose every removal holds under ``removals: hold_always``: people and enrollments.
ALWAYS_HELD_REMOVALS: tuple[Entity, ...] = (*PERSON_ENTITIES, ENTITY_BY_NAME["enrollments"])


def mass_removal(
    changes: ChangeSet, accepted: RosterSet | RosterCounts | None, settings: DistrictSettings
) -> list[Hold]:
    """Removals of an entity type in a school strictly exceed ``mass_removal_percent`` of that
    school's accepted records of the type, and number at least ``mass_removal_min_count``.

    With the district setting ``removals: hold_always``, any removal of people or enrollments
    holds its school (threshold 0 %, no minimum count; the message names the setting); the other
    entities keep the thresholds. With ``never_automatic`` any removal of any entity holds.

    A re-key (a suspected source-ID change, and the links that only follow it) is not a removal:
    the ``id_change`` rule holds those."""
    changes = without_rekeyed_removals(changes)
    h = settings.holds
    mode = settings.removals
    counts = as_counts(accepted)
    every = {
        "hold_over_threshold": (),
        "hold_always": ALWAYS_HELD_REMOVALS,
        "never_automatic": ENTITIES,
    }[mode]
    names = {e.name for e in every}
    entities = [e for e in ENTITIES if e.name not in names]
    found = _ratio_rule(
        "mass_removal",
        "remove",
        "removed",
        changes,
        counts,
        h.mass_removal_percent,
        h.mass_removal_min_count,
        entities,
    )
    if every:
        found += _every_removal(changes, counts, every, _EVERY_REMOVAL_REASON[mode])
    return found


_EVERY_REMOVAL_REASON = {
    "hold_always": "the district holds every removal of people and enrollments (setting removals: "
    "hold_always)",
    "never_automatic": "removals are never applied automatically (setting removals: never_automatic)",
}


def _removal_holds(
    hold_type: HoldType,
    threshold: float,
    removed: pa.Table,
    entity: Entity,
    accepted: RosterCounts,
    message: Callable[[TrippedGroup], str],
) -> list[Hold]:
    """One hold of ``hold_type`` per school (or district-wide) with any of ``removed``, counted
    against the school's accepted records of the entity; ``message`` words each."""
    base = accepted.by_school(entity.name)
    return [
        g.hold(hold_type, message(g), entity=entity.name, threshold=threshold)
        for g in tripped_groups(groups(removed, entity), None, denominators=base)
    ]


def _every_removal(
    changes: ChangeSet, accepted: RosterCounts | None, entities: Sequence[Entity], reason: str
) -> list[Hold]:
    """A ``mass_removal`` hold per school (or district-wide) with any removal of ``entities``."""
    if accepted is None:
        return []
    holds = []
    for entity in entities:
        ec = entity_changes(changes, entity)
        if ec is None or ec.removed.num_rows == 0:
            continue

        def message(g: TrippedGroup, entity: Entity = entity) -> str:
            return (
                f"{where(g.school_id, scoped=is_school_scoped(entity))}: would remove "
                f"{g.numerator:,} of {g.denominator or 0:,} "
                f"{noun(entity)} ({pct(g.numerator, g.denominator)}); {reason}"
            )

        holds += _removal_holds("mass_removal", 0.0, ec.removed, entity, accepted, message)
    return holds


def mass_update(
    changes: ChangeSet, accepted: RosterSet | RosterCounts | None, settings: DistrictSettings
) -> list[Hold]:
    """Changed records of an entity type in a school strictly exceed ``mass_update_percent`` of
    the school's accepted records of the type (re-keyed IDs), and number at least
    ``mass_update_min_count``."""
    h = settings.holds
    return _ratio_rule(
        "mass_update",
        "change",
        "changed",
        changes,
        accepted,
        h.mass_update_percent,
        h.mass_update_min_count,
    )


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stale_upload(
    changes: ChangeSet,
    staged: RosterSet,
    accepted: RosterSet | RosterCounts | None,
    settings: DistrictSettings,
) -> list[Hold]:
    """Removals of an entity whose data had not been received for more than
    ``stale_upload_days`` whole days before this upload are held (per school), so that an
    occasional file cannot silently remove what it no longer lists. Re-keys are not removals."""
    counts = as_counts(accepted)
    if counts is None:
        return []
    changes = without_rekeyed_removals(changes)
    days_limit = settings.holds.stale_upload_days
    holds = []
    for entity in ENTITIES:
        ec = entity_changes(changes, entity)
        then = counts.received_at.get(entity.name)
        now = staged.received_at.get(entity.name)
        if ec is None or ec.removed.num_rows == 0 or then is None or now is None:
            continue
        days = (_as_utc(now) - _as_utc(then)).days
        if days <= days_limit:
            continue
        scoped = is_school_scoped(entity)

        def message(g: TrippedGroup, entity: Entity = entity, scoped: bool = scoped, days: int = days) -> str:
            return (
                f"{where(g.school_id, scoped=scoped)}: {noun(entity)} data was last received "
                f"{days} days before this upload (limit {days_limit} days); its "
                f"{g.numerator:,} removals (of {g.denominator or 0:,} {noun(entity)}) wait "
                "for release"
            )

        holds += _removal_holds("stale_upload", float(days_limit), ec.removed, entity, counts, message)
    return holds
