"""Safety holds: pure rules over the diff, the staged set and the accepted snapshot.

Each rule counts with Arrow group-bys (per school where the entity has a ``school_id``,
district-wide otherwise) and returns :class:`~rostersync.records.Hold` records carrying the
numerator, denominator and threshold, a message an admin understands and up to 20 example IDs.
Python only loops over the few groups that tripped. :func:`prepare_staged` applies the district's
scoping settings (school IDs, excluded or dropped contact types) before the diff, and
:func:`evaluate_holds` runs every enabled rule in a deterministic order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet, EntityChanges
from rostersync.issues import ALERT, ISSUE_SCHEMA, FileProblem
from rostersync.model import ENTITIES, ENTITY_BY_NAME, PERSON_ENTITIES, Entity
from rostersync.records import HOLD_TYPES, Hold, HoldType
from rostersync.reports import display_key
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings

SAMPLE_LIMIT = 20
# Group key of rows without a school (a null key would not join); no real school ID is empty.
NO_SCHOOL = ""

_SCHOOL = "school"
_KEY = "key"
_COUNT = "count_all"


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
        return [str(k) for k in self.samples.column(_KEY).to_pylist() if k is not None]


def _is_school_scoped(entity: Entity) -> bool:
    """Whether holds on this entity are counted per school (the schools table is district-wide)."""
    return entity.name != "schools" and "school_id" in entity.schema.names


def _noun(entity: Entity) -> str:
    return entity.name.replace("_", " ")


def _where(school_id: str | None, *, scoped: bool = True) -> str:
    """How a message names the scope of a hold."""
    if not scoped:
        return "District"
    if school_id is None:
        return "Records with no school"
    return f"School {school_id}"


def _pct(numerator: int, denominator: int | None) -> str:
    if not denominator:
        return "n/a"
    return f"{100.0 * numerator / denominator:.1f} %"


def _limit(value: float) -> str:
    return f"{value:g}"


def _groups(table: pa.Table, entity: Entity, school_column: str = "school_id") -> pa.Table:
    """``table`` reduced to (school, key, …): the school group key (NO_SCHOOL for null or for a
    district-wide entity) and the display key."""
    n = table.num_rows
    if _is_school_scoped(entity) and school_column in table.column_names:
        school = pc.fill_null(table.column(school_column).cast(pa.string()), NO_SCHOOL)
    else:
        school = pa.repeat(pa.scalar(NO_SCHOOL), n)
    return pa.table({_SCHOOL: school, _KEY: display_key(table, entity)})


def _count_by_school(groups: pa.Table, name: str) -> pa.Table:
    counts = groups.group_by(_SCHOOL).aggregate([([], _COUNT)])
    return counts.rename_columns([_SCHOOL, name])


def _exceeds(numerator: pa.ChunkedArray, denominator: pa.ChunkedArray, percent: float) -> pa.ChunkedArray:
    """numerator / denominator > percent %, in exact integer arithmetic (10 % of 501 is 50.1, so
    50 removals pass and 51 trip; a float threshold is read as the decimal the admin typed)."""
    limit = Fraction(str(percent))
    left = pc.multiply_checked(numerator, pa.scalar(100 * limit.denominator, pa.int64()))
    right = pc.multiply_checked(denominator, pa.scalar(limit.numerator, pa.int64()))
    return pc.greater(left, right)


def _samples(hits: pa.Table, schools: list[str], limit: int = SAMPLE_LIMIT) -> dict[str, pa.Table]:
    """The first ``limit`` hits (by key) of each of ``schools``: one sort, then slices."""
    if not schools:
        return {}
    subset = hits.filter(pc.is_in(hits.column(_SCHOOL), value_set=pa.array(schools, pa.string())))
    subset = subset.sort_by([(_SCHOOL, "ascending"), (_KEY, "ascending")])
    counts = subset.group_by(_SCHOOL).aggregate([([], _COUNT)]).sort_by(_SCHOOL).to_pylist()
    out, start = {}, 0
    for row in counts:
        out[row[_SCHOOL]] = subset.slice(start, min(row[_COUNT], limit))
        start += row[_COUNT]
    return out


def tripped_groups(
    hits: pa.Table,
    base: pa.Table | None,
    *,
    percent: float | None = None,
    min_count: int = 1,
) -> list[TrippedGroup]:
    """Schools where the hits trip a rule.

    ``hits`` and ``base`` are (school, key, …) tables from :func:`_groups`. The numerator is the
    hits per school, the denominator the ``base`` rows of that school (None without a base). A
    school trips when numerator >= ``min_count`` and, if ``percent`` is given, numerator /
    denominator strictly exceeds it.
    """
    if hits.num_rows == 0:
        return []
    table = _count_by_school(hits, "numerator")
    if base is not None:
        table = table.join(_count_by_school(base, "denominator"), _SCHOOL, join_type="left outer")
        table = table.set_column(
            table.schema.get_field_index("denominator"),
            "denominator",
            pc.fill_null(table.column("denominator"), 0),
        )
    mask = pc.greater_equal(table.column("numerator"), pa.scalar(max(min_count, 1), pa.int64()))
    if percent is not None and base is not None:
        mask = pc.and_(mask, _exceeds(table.column("numerator"), table.column("denominator"), percent))
    tripped = table.filter(mask).sort_by(_SCHOOL).to_pylist()
    samples = _samples(hits, [row[_SCHOOL] for row in tripped])
    return [
        TrippedGroup(
            school_id=None if row[_SCHOOL] == NO_SCHOOL else row[_SCHOOL],
            numerator=int(row["numerator"]),
            denominator=int(row["denominator"]) if base is not None else None,
            samples=samples[row[_SCHOOL]],
        )
        for row in tripped
    ]


def _entity_changes(changes: ChangeSet, entity: Entity) -> EntityChanges | None:
    return changes.entities.get(entity.name)


def _lower(values: Sequence[str]) -> pa.Array:
    return pa.array(sorted({v.strip().lower() for v in values}), pa.string())


def _normalized(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.utf8_lower(pc.utf8_trim_whitespace(column))


# -- the rules -----------------------------------------------------------------------------------


def _ratio_rule(
    hold_type: HoldType,
    verb: str,
    hits_of: str,
    changes: ChangeSet,
    accepted: RosterSet | None,
    percent: float,
    min_count: int,
    entities: Sequence[Entity] = ENTITIES,
) -> list[Hold]:
    if accepted is None:
        return []
    holds = []
    for entity in entities:
        ec = _entity_changes(changes, entity)
        if ec is None:
            continue
        # Changed records are counted in the school they belonged to, like the denominator.
        hits_table = ec.removed if hits_of == "removed" else ec.changed_old
        if hits_table.num_rows == 0:
            continue
        hits = _groups(hits_table, entity)
        base = _groups(accepted.table(entity.name), entity)
        extra = _top_changed_fields(ec, entity) if hits_of == "changed" else {}
        scoped = _is_school_scoped(entity)
        for g in tripped_groups(hits, base, percent=percent, min_count=min_count):
            message = (
                f"{_where(g.school_id, scoped=scoped)}: would {verb} {g.numerator:,} of "
                f"{g.denominator or 0:,} {_noun(entity)} ({_pct(g.numerator, g.denominator)}, "
                f"limit {_limit(percent)} %)"
            )
            if extra.get(g.school_id):
                message += f"; most changed: {extra[g.school_id]}"
            holds.append(
                Hold(
                    type=hold_type,
                    school_id=g.school_id,
                    entity=entity.name,
                    numerator=g.numerator,
                    denominator=g.denominator,
                    threshold=percent,
                    message=message,
                    sample_ids=g.sample_ids,
                )
            )
    return holds


def _top_changed_fields(ec: EntityChanges, entity: Entity, top: int = 3) -> dict[str | None, str]:
    """Per school, the most often changed fields ("grade (480), email (12)")."""
    fields = pc.cast(ec.changed_fields, pa.list_(pa.string()))
    schools = _groups(ec.changed_old, entity).column(_SCHOOL)
    flat = pa.table(
        {
            _SCHOOL: pc.take(schools, pc.list_parent_indices(fields)),
            "field": pc.list_flatten(fields),
        }
    )
    counts = (
        flat.group_by([_SCHOOL, "field"])
        .aggregate([([], _COUNT)])
        .sort_by([(_SCHOOL, "ascending"), (_COUNT, "descending"), ("field", "ascending")])
    )
    out: dict[str | None, list[str]] = {}
    # Small: schools x fields rows.
    for row in counts.to_pylist():
        school = None if row[_SCHOOL] == NO_SCHOOL else row[_SCHOOL]
        items = out.setdefault(school, [])
        if len(items) < top:
            items.append(f"{row['field']} ({row[_COUNT]:,})")
    return {school: ", ".join(items) for school, items in out.items()}


# The entities whose every removal holds under ``removals: hold_always``: people and enrollments.
ALWAYS_HELD_REMOVALS: tuple[Entity, ...] = (*PERSON_ENTITIES, ENTITY_BY_NAME["enrollments"])


def mass_removal(changes: ChangeSet, accepted: RosterSet | None, settings: DistrictSettings) -> list[Hold]:
    """Removals of an entity type in a school strictly exceed ``mass_removal_percent`` of that
    school's accepted records of the type, and number at least ``mass_removal_min_count``.

    With the district setting ``removals: hold_always``, any removal of people or enrollments
    holds its school (threshold 0 %, no minimum count; the message names the setting); the other
    entities keep the thresholds. With ``never_automatic`` any removal of any entity holds."""
    h = settings.holds
    mode = settings.removals
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
        accepted,
        h.mass_removal_percent,
        h.mass_removal_min_count,
        entities,
    )
    if every:
        found += _every_removal(changes, accepted, every, _EVERY_REMOVAL_REASON[mode])
    return found


_EVERY_REMOVAL_REASON = {
    "hold_always": "the district holds every removal of people and enrollments (setting removals: "
    "hold_always)",
    "never_automatic": "removals are never applied automatically (setting removals: never_automatic)",
}


def _every_removal(
    changes: ChangeSet, accepted: RosterSet | None, entities: Sequence[Entity], reason: str
) -> list[Hold]:
    """A ``mass_removal`` hold per school (or district-wide) with any removal of ``entities``."""
    if accepted is None:
        return []
    holds = []
    for entity in entities:
        ec = _entity_changes(changes, entity)
        if ec is None or ec.removed.num_rows == 0:
            continue
        hits = _groups(ec.removed, entity)
        base = _groups(accepted.table(entity.name), entity)
        for g in tripped_groups(hits, base):
            holds.append(
                Hold(
                    type="mass_removal",
                    school_id=g.school_id,
                    entity=entity.name,
                    numerator=g.numerator,
                    denominator=g.denominator,
                    threshold=0.0,
                    message=(
                        f"{_where(g.school_id, scoped=_is_school_scoped(entity))}: would remove "
                        f"{g.numerator:,} of {g.denominator or 0:,} "
                        f"{_noun(entity)} ({_pct(g.numerator, g.denominator)}); {reason}"
                    ),
                    sample_ids=g.sample_ids,
                )
            )
    return holds


def mass_update(changes: ChangeSet, accepted: RosterSet | None, settings: DistrictSettings) -> list[Hold]:
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


def too_many_contacts(changes: ChangeSet, staged: RosterSet, settings: DistrictSettings) -> list[Hold]:
    """Students with ``max_contacts_per_student`` or more contact links in the staged set.

    Only students that gained a link in this diff are counted, so a released hold does not trip
    again every night (on a first sync every link is new, so everyone counts). Per school of the
    student: numerator such students, denominator the school's staged students.
    """
    limit = settings.holds.max_contacts_per_student
    links = staged.table("contact_links")
    ec = changes.entities.get("contact_links")
    if links.num_rows == 0 or ec is None or ec.added.num_rows == 0:
        return []
    per_student = links.group_by("student_id").aggregate(
        [("contact_id", "count_distinct"), ("school_id", "min")]
    )
    gained = pc.unique(pc.drop_null(ec.added.column("student_id")))
    flagged = per_student.filter(
        pc.and_(
            pc.greater_equal(per_student.column("contact_id_count_distinct"), pa.scalar(limit, pa.int64())),
            pc.is_in(per_student.column("student_id"), value_set=gained),
        )
    )
    if flagged.num_rows == 0:
        return []
    # The student's school comes from the students table; the link's school is the fallback.
    students = staged.table("students")
    position = pc.index_in(flagged.column("student_id"), value_set=students.column("person_id"))
    school = pc.coalesce(pc.take(students.column("school_id"), position), flagged.column("school_id_min"))
    hits = pa.table(
        {
            _SCHOOL: pc.fill_null(school, NO_SCHOOL),
            _KEY: flagged.column("student_id"),
            "links": flagged.column("contact_id_count_distinct"),
        }
    )
    base = _groups(students, ENTITY_BY_NAME["students"])
    most = {
        None if row[_SCHOOL] == NO_SCHOOL else row[_SCHOOL]: row["links_max"]
        for row in hits.group_by(_SCHOOL).aggregate([("links", "max")]).to_pylist()
    }
    holds = []
    for g in tripped_groups(hits, base):
        holds.append(
            Hold(
                type="too_many_contacts",
                school_id=g.school_id,
                entity="students",
                numerator=g.numerator,
                denominator=g.denominator,
                threshold=float(limit),
                message=(
                    f"{_where(g.school_id)}: {g.numerator:,} of {g.denominator or 0:,} students have "
                    f"{limit} or more contacts (most: {most[g.school_id]}); emergency or "
                    "secondary contacts may be included"
                ),
                sample_ids=g.sample_ids,
            )
        )
    return holds


def emergency_contacts(changes: ChangeSet, settings: DistrictSettings) -> list[Hold]:
    """New contact links whose type (case-insensitive) is one of ``emergency_contact_types``,
    when the district holds them (``emergency_contacts == "hold"``). Per school: numerator such
    links, denominator all new links of the school."""
    h = settings.holds
    ec = changes.entities.get("contact_links")
    if h.emergency_contacts != "hold" or not h.emergency_contact_types or ec is None:
        return []
    added = ec.added
    if added.num_rows == 0:
        return []
    entity = ENTITY_BY_NAME["contact_links"]
    mask = pc.is_in(_normalized(added.column("contact_type")), value_set=_lower(h.emergency_contact_types))
    hits = _groups(added.filter(mask), entity)
    base = _groups(added, entity)
    types = " or ".join(h.emergency_contact_types)
    return [
        Hold(
            type="emergency_contacts",
            school_id=g.school_id,
            entity=entity.name,
            numerator=g.numerator,
            denominator=g.denominator,
            message=(
                f"{_where(g.school_id)}: {g.numerator:,} of {g.denominator or 0:,} new contact links are "
                f"of type {types}; accounts are not created for them until released"
            ),
            sample_ids=g.sample_ids,
        )
        for g in tripped_groups(hits, base)
    ]


def class_id_reuse(changes: ChangeSet, settings: DistrictSettings) -> list[Hold]:
    """Sections already in the snapshot that reappear with a different term (both terms known),
    per school of the staged section. No denominator: any reuse holds."""
    ec = changes.entities.get("sections")
    if not settings.holds.class_id_reuse or ec is None or ec.changed_new.num_rows == 0:
        return []
    entity = ENTITY_BY_NAME["sections"]
    old_term, new_term = ec.changed_old.column("term_id"), ec.changed_new.column("term_id")
    mask = pc.fill_null(pc.not_equal(old_term, new_term), False)
    hits = _groups(ec.changed_new, entity)
    hits = hits.append_column("old_term", old_term).append_column("new_term", new_term).filter(mask)
    holds = []
    for g in tripped_groups(hits, None):
        first = g.samples.slice(0, 1).to_pylist()[0]
        holds.append(
            Hold(
                type="class_id_reuse",
                school_id=g.school_id,
                entity=entity.name,
                numerator=g.numerator,
                message=(
                    f"{_where(g.school_id)}: {g.numerator:,} sections reuse a section ID from an earlier "
                    f"term (e.g. {first[_KEY]}: term {first['old_term']} → {first['new_term']}); "
                    "use new section IDs every term"
                ),
                sample_ids=g.sample_ids,
            )
        )
    return holds


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stale_upload(
    changes: ChangeSet,
    staged: RosterSet,
    accepted: RosterSet | None,
    settings: DistrictSettings,
) -> list[Hold]:
    """Removals of an entity whose data had not been received for more than
    ``stale_upload_days`` whole days before this upload are held (per school), so that an
    occasional file cannot silently remove what it no longer lists."""
    if accepted is None:
        return []
    days_limit = settings.holds.stale_upload_days
    holds = []
    for entity in ENTITIES:
        ec = _entity_changes(changes, entity)
        then = accepted.received_at.get(entity.name)
        now = staged.received_at.get(entity.name)
        if ec is None or ec.removed.num_rows == 0 or then is None or now is None:
            continue
        days = (_as_utc(now) - _as_utc(then)).days
        if days <= days_limit:
            continue
        scoped = _is_school_scoped(entity)
        hits = _groups(ec.removed, entity)
        base = _groups(accepted.table(entity.name), entity)
        for g in tripped_groups(hits, base):
            holds.append(
                Hold(
                    type="stale_upload",
                    school_id=g.school_id,
                    entity=entity.name,
                    numerator=g.numerator,
                    denominator=g.denominator,
                    threshold=float(days_limit),
                    message=(
                        f"{_where(g.school_id, scoped=scoped)}: {_noun(entity)} data was last received "
                        f"{days} days before this upload (limit {days_limit} days); its "
                        f"{g.numerator:,} removals (of {g.denominator or 0:,} {_noun(entity)}) wait "
                        "for release"
                    ),
                    sample_ids=g.sample_ids,
                )
            )
    return holds


def invalid_files(
    staged: RosterSet,
    accepted: RosterSet | None,
    file_problems: Sequence[FileProblem] = (),
) -> list[Hold]:
    """One district-wide hold per file problem, and one per entity that is empty in the staged
    set (and supplied, i.e. not in ``staged.missing``) but has rows in the accepted snapshot."""
    holds = []
    for problem in file_problems:
        stem = problem.file.rsplit("/", 1)[-1].removesuffix(".csv").lower()
        holds.append(
            Hold(
                type="invalid_files",
                entity=stem if stem in ENTITY_BY_NAME else None,
                message=str(problem),
                sample_ids=[problem.file],
            )
        )
    if accepted is None:
        return holds
    for entity in ENTITIES:
        had = accepted.table(entity.name).num_rows
        if entity.name in staged.missing or staged.table(entity.name).num_rows or not had:
            continue
        unreadable = pc.sum(pc.equal(staged.unknown.column("entity"), entity.name)).as_py() or 0
        what = f"no valid rows ({unreadable:,} could not be read)" if unreadable else "file is empty"
        holds.append(
            Hold(
                type="invalid_files",
                entity=entity.name,
                numerator=0,
                denominator=had,
                message=f"{entity.name}: {what} but the accepted snapshot has {had:,} rows",
            )
        )
    return holds


def schools_not_found(staged: RosterSet, settings: DistrictSettings) -> list[Hold]:
    """Configured school IDs absent from the staged schools table: one district-wide hold."""
    configured = list(dict.fromkeys(settings.school_ids))
    if not settings.holds.schools_not_found or not configured:
        return []
    wanted = pa.array(configured, pa.string())
    found = pc.is_in(wanted, value_set=pc.drop_null(staged.table("schools").column("school_id")))
    missing = wanted.filter(pc.invert(found)).to_pylist()
    if not missing:
        return []
    listed = ", ".join(missing[:SAMPLE_LIMIT]) + (" …" if len(missing) > SAMPLE_LIMIT else "")
    return [
        Hold(
            type="schools_not_found",
            numerator=len(missing),
            denominator=len(configured),
            message=(
                f"{len(missing)} of {len(configured)} configured school IDs are not in the data "
                f"received: {listed}"
            ),
            sample_ids=missing[:SAMPLE_LIMIT],
        )
    ]


_ENTITY_RANK = {e.name: i for i, e in enumerate(ENTITIES)}


def _order(hold: Hold) -> tuple[int, bool, str, int, str]:
    return (
        HOLD_TYPES.index(hold.type),
        hold.school_id is not None,
        hold.school_id or "",
        _ENTITY_RANK.get(hold.entity or "", -1),
        hold.message,
    )


def sort_holds(holds: Sequence[Hold]) -> list[Hold]:
    """Catalogue order of hold types, then district-wide before schools, then school ID."""
    return sorted(holds, key=_order)


def evaluate_holds(
    changes: ChangeSet,
    staged: RosterSet,
    accepted: RosterSet | None,
    settings: DistrictSettings,
    *,
    file_problems: Sequence[FileProblem] = (),
) -> list[Hold]:
    """Every enabled rule (rules read their own on/off settings), in :func:`sort_holds` order."""
    holds = [
        *mass_removal(changes, accepted, settings),
        *mass_update(changes, accepted, settings),
        *too_many_contacts(changes, staged, settings),
        *emergency_contacts(changes, settings),
        *class_id_reuse(changes, settings),
        *stale_upload(changes, staged, accepted, settings),
        *invalid_files(staged, accepted, file_problems),
        *schools_not_found(staged, settings),
    ]
    return sort_holds(holds)


def hold_summary_table(holds: Sequence[Hold]) -> list[dict[str, Any]]:
    """Rows for a readable table (CLI, email): school, hold, entity, numbers and message."""
    return [
        {
            "school": hold.school_id if hold.school_id is not None else "District",
            "hold": hold.type,
            "entity": hold.entity or "",
            "numerator": hold.numerator,
            "denominator": hold.denominator,
            "percent": None if hold.percent is None else round(hold.percent, 1),
            "threshold": hold.threshold,
            "message": hold.message,
        }
        for hold in sort_holds(holds)
    ]


# -- scoping the staged set ----------------------------------------------------------------------


def _row_numbers(n: int) -> pa.Array:
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _first_by(table: pa.Table, group: str, value: str) -> pa.Table:
    """First ``value`` of each ``group`` in row order."""
    return table.group_by(group, use_threads=False).aggregate([(value, "first")])


def _issue(column: str, value: str, message: str) -> dict[str, Any]:
    return {"severity": ALERT, "file": "", "row": None, "column": column, "value": value, "message": message}


def _keep_people(table: pa.Table, kept: pa.Array) -> tuple[pa.Table, int]:
    """People of a kept school, or listing one in ``school_ids``; a person whose main school is
    not kept moves to their first kept school so counts and releases stay per configured school.
    Returns the table and how many people moved."""
    in_school = pc.fill_null(pc.is_in(table.column("school_id"), value_set=kept), False)
    if "school_ids" not in table.column_names or table.num_rows == 0:
        return table.filter(in_school), 0
    lists = table.column("school_ids")
    flat = pc.list_flatten(lists)
    listed = pa.table({"row": pc.list_parent_indices(lists), "school": flat}).filter(
        pc.fill_null(pc.is_in(flat, value_set=kept), False)
    )
    first = _first_by(listed, "row", "school")
    position = pc.index_in(_row_numbers(table.num_rows), value_set=first.column("row"))
    first_kept = pc.take(first.column("school_first"), position)
    keep = pc.or_(in_school, pc.is_valid(first_kept))
    moved = pc.and_(pc.invert(in_school), keep)
    school = pc.if_else(moved, first_kept, table.column("school_id"))
    table = table.set_column(table.schema.get_field_index("school_id"), "school_id", school)
    return table.filter(keep), int(pc.sum(moved).as_py() or 0)


def _scope_to_schools(tables: dict[str, pa.Table], kept: pa.Array) -> list[dict[str, Any]]:
    """Keep the rows of the ``kept`` schools (see :func:`prepare_staged`); an alert per entity."""
    before = {name: t.num_rows for name, t in tables.items()}
    moved: dict[str, int] = {}

    def in_kept(table: pa.Table) -> pa.ChunkedArray:
        return pc.fill_null(pc.is_in(table.column("school_id"), value_set=kept), False)

    tables["schools"] = tables["schools"].filter(in_kept(tables["schools"]))
    sections = tables["sections"].filter(in_kept(tables["sections"]))
    tables["sections"] = sections
    for name, key in (("terms", "term_id"), ("courses", "course_id")):
        used = pc.drop_null(pc.unique(sections.column(key)))
        table = tables[name]
        tables[name] = table.filter(pc.or_(in_kept(table), pc.is_in(table.column(key), value_set=used)))
    for entity in PERSON_ENTITIES:
        if entity.name != "contacts":
            tables[entity.name], moved[entity.name] = _keep_people(tables[entity.name], kept)
    tables["enrollments"] = tables["enrollments"].filter(in_kept(tables["enrollments"]))
    links = tables["contact_links"]
    kept_students = tables["students"].column("person_id")
    tables["contact_links"] = links.filter(
        pc.fill_null(pc.is_in(links.column("student_id"), value_set=kept_students), False)
    )
    issues: list[dict[str, Any]] = []
    for entity in ENTITIES:
        if entity.name == "contacts":
            continue  # reported with the contact-type drops
        dropped = before[entity.name] - tables[entity.name].num_rows
        if dropped:
            issues.append(
                _issue(
                    "school_id",
                    "",
                    f"{entity.name}: {dropped:,} rows outside the configured schools were left out",
                )
            )
        if moved.get(entity.name):
            issues.append(
                _issue(
                    "school_id",
                    "",
                    f"{entity.name}: {moved[entity.name]:,} people whose main school is not "
                    "configured were counted in their first configured school",
                )
            )
    return issues


def _drop_contact_types(tables: dict[str, pa.Table], settings: DistrictSettings) -> list[dict[str, Any]]:
    """Drop the contact links of excluded (and dropped emergency) types; an alert per type."""
    drop_types = list(settings.excluded_contact_types)
    if settings.holds.emergency_contacts == "drop":
        drop_types += settings.holds.emergency_contact_types
    links = tables["contact_links"]
    if not drop_types or not links.num_rows:
        return []
    drop = pc.fill_null(
        pc.is_in(_normalized(links.column("contact_type")), value_set=_lower(drop_types)), False
    )
    dropped_links = links.filter(drop)
    tables["contact_links"] = links.filter(pc.invert(drop))
    by_type = dropped_links.group_by("contact_type").aggregate([([], _COUNT)]).sort_by("contact_type")
    return [
        _issue(
            "contact_type",
            row["contact_type"],
            f"contact_links: {row[_COUNT]:,} contact links of type {row['contact_type']} were "
            "left out (district setting)",
        )
        for row in by_type.to_pylist()
    ]


def _keep_linked_contacts(
    tables: dict[str, pa.Table], staged: RosterSet, kept: pa.Array | None
) -> list[dict[str, Any]]:
    """Keep the contacts a kept link names (``kept``: the configured schools, None when unscoped)."""
    scoped = kept is not None
    contacts = tables["contacts"]
    if not contacts.num_rows or (
        not scoped and tables["contact_links"].num_rows == staged.table("contact_links").num_rows
    ):
        return []
    linked_now = tables["contact_links"].column("contact_id")
    is_linked = pc.fill_null(pc.is_in(contacts.column("person_id"), value_set=linked_now), False)
    if scoped:
        keep = is_linked
    else:
        linked_before = staged.table("contact_links").column("contact_id")
        had_link = pc.fill_null(pc.is_in(contacts.column("person_id"), value_set=linked_before), False)
        keep = pc.or_(is_linked, pc.invert(had_link))
    tables["contacts"] = contacts = contacts.filter(keep)
    issues: list[dict[str, Any]] = []
    dropped = staged.table("contacts").num_rows - contacts.num_rows
    if dropped:
        issues.append(
            _issue(
                "contact_id", "", f"contacts: {dropped:,} contacts left with no linked student were left out"
            )
        )
    if kept is not None and contacts.num_rows:
        tables["contacts"] = _contacts_in_link_schools(contacts, tables["contact_links"], kept)
    return issues


def _contacts_in_link_schools(contacts: pa.Table, links: pa.Table, kept: pa.Array) -> pa.Table:
    """A contact whose school is not configured takes the school of its first kept link."""
    first = _first_by(links, "contact_id", "school_id")
    position = pc.index_in(contacts.column("person_id"), value_set=first.column("contact_id"))
    link_school = pc.take(first.column("school_id_first"), position)
    own = pc.fill_null(pc.is_in(contacts.column("school_id"), value_set=kept), False)
    school = pc.if_else(
        own, contacts.column("school_id"), pc.coalesce(link_school, contacts.column("school_id"))
    )
    index = contacts.schema.get_field_index("school_id")
    return contacts.set_column(index, "school_id", school)


def prepare_staged(staged: RosterSet, settings: DistrictSettings) -> tuple[RosterSet, pa.Table]:
    """Apply the district's scoping settings to a staged set before the diff.

    - ``school_ids`` (when set): school-scoped tables keep rows of those schools; people also
      when one of their ``school_ids`` is configured (moved to that school); terms and courses
      also when a kept section uses them; contact links when their student is kept.
    - ``excluded_contact_types``, and ``emergency_contact_types`` when emergency contacts are
      set to "drop": those contact links are dropped (case-insensitive).
    - Contacts are kept when a kept link names them (with ``school_ids`` set, only then;
      otherwise a contact that never had a link is left for validation to report). A kept
      contact whose school is not configured takes the school of its first kept link.

    Returns the filtered set and an alert per kind of drop (counts, not one row per record).
    """
    tables = dict(staged.tables)
    scoped = bool(settings.school_ids)
    kept = pa.array(sorted(set(settings.school_ids)), pa.string())
    issues = _scope_to_schools(tables, kept) if scoped else []
    issues += _drop_contact_types(tables, settings)
    issues += _keep_linked_contacts(tables, staged, kept if scoped else None)

    prepared = RosterSet(
        tables=tables,
        format=staged.format,
        unknown=staged.unknown,
        missing=staged.missing,
        received_at=dict(staged.received_at),
    )
    return prepared, pa.Table.from_pylist(issues, schema=ISSUE_SCHEMA)
