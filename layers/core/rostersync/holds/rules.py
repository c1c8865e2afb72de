"""The other rules: contacts (``too_many_contacts``, ``emergency_contacts``), ``class_id_reuse``,
``invalid_files`` and ``schools_not_found``."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet
from rostersync.holds.common import (
    KEY,
    NO_SCHOOL,
    SAMPLE_LIMIT,
    SCHOOL,
    groups,
    lower_set,
    normalized,
    tripped_groups,
    where,
)
from rostersync.holds.counts import RosterCounts, as_counts
from rostersync.issues import FileProblem
from rostersync.model import ENTITIES, ENTITY_BY_NAME
from rostersync.records import Hold
from rostersync.rekeys import without_rekeys
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings


def too_many_contacts(changes: ChangeSet, staged: RosterSet, settings: DistrictSettings) -> list[Hold]:
    """Students with ``max_contacts_per_student`` or more contact links in the staged set.

    Only students that gained a link in this diff are counted, so a released hold does not trip
    again every night (on a first sync every link is new, so everyone counts). Per school of the
    student: numerator such students, denominator the school's staged students.
    """
    limit = settings.holds.max_contacts_per_student
    links = staged.table("contact_links")
    changes = without_rekeys(changes)  # a re-keyed student's links are not new
    ec = changes.entities.get("contact_links")
    if links.num_rows == 0 or ec is None or ec.added.num_rows == 0:
        return []
    gained = pc.unique(pc.drop_null(ec.added.column("student_id")))
    # Only the links of students who gained one are grouped (the same groups, in the same order).
    links = links.filter(pc.is_in(links.column("student_id"), value_set=gained))
    per_student = links.group_by("student_id").aggregate(
        [("contact_id", "count_distinct"), ("school_id", "min")]
    )
    flagged = per_student.filter(
        pc.greater_equal(per_student.column("contact_id_count_distinct"), pa.scalar(limit, pa.int64()))
    )
    if flagged.num_rows == 0:
        return []
    # The student's school comes from the students table; the link's school is the fallback.
    students = staged.table("students")
    # Looked up among the flagged students' own rows: a lookup table of every student costs more
    # than the rest of the rule (the first row of a person ID is the same row in either).
    theirs = students.filter(pc.is_in(students.column("person_id"), value_set=flagged.column("student_id")))
    position = pc.index_in(flagged.column("student_id"), value_set=theirs.column("person_id"))
    school = pc.coalesce(pc.take(theirs.column("school_id"), position), flagged.column("school_id_min"))
    hits = pa.table(
        {
            SCHOOL: pc.fill_null(school, NO_SCHOOL),
            KEY: flagged.column("student_id"),
            "links": flagged.column("contact_id_count_distinct"),
        }
    )
    base = groups(students, ENTITY_BY_NAME["students"])
    most = {
        None if row[SCHOOL] == NO_SCHOOL else row[SCHOOL]: row["links_max"]
        for row in hits.group_by(SCHOOL).aggregate([("links", "max")]).to_pylist()
    }
    holds = []
    for g in tripped_groups(hits, base):
        holds.append(
            g.hold(
                "too_many_contacts",
                (
                    f"{where(g.school_id)}: {g.numerator:,} of {g.denominator or 0:,} students have "
                    f"{limit} or more contacts (most: {most[g.school_id]}); emergency or "
                    "secondary contacts may be included"
                ),
                entity="students",
                threshold=float(limit),
            )
        )
    return holds


def emergency_contacts(changes: ChangeSet, settings: DistrictSettings) -> list[Hold]:
    """New contact links whose type (case-insensitive) is one of ``emergency_contact_types``,
    when the district holds them (``emergency_contacts == "hold"``). Per school: numerator such
    links, denominator all new links of the school."""
    h = settings.holds
    ec = without_rekeys(changes).entities.get("contact_links")  # a re-key's links are not new
    if h.emergency_contacts != "hold" or not h.emergency_contact_types or ec is None:
        return []
    added = ec.added
    if added.num_rows == 0:
        return []
    entity = ENTITY_BY_NAME["contact_links"]
    mask = pc.is_in(normalized(added.column("contact_type")), value_set=lower_set(h.emergency_contact_types))
    hits = groups(added.filter(mask), entity)
    base = groups(added, entity)
    types = " or ".join(h.emergency_contact_types)
    return [
        g.hold(
            "emergency_contacts",
            (
                f"{where(g.school_id)}: {g.numerator:,} of {g.denominator or 0:,} new contact links are "
                f"of type {types}; accounts are not created for them until released"
            ),
            entity=entity.name,
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
    hits = groups(ec.changed_new, entity)
    hits = hits.append_column("old_term", old_term).append_column("new_term", new_term).filter(mask)
    holds = []
    for g in tripped_groups(hits, None):
        first = g.samples.slice(0, 1).to_pylist()[0]
        holds.append(
            g.hold(
                "class_id_reuse",
                (
                    f"{where(g.school_id)}: {g.numerator:,} sections reuse a section ID from an earlier "
                    f"term (e.g. {first[KEY]}: term {first['old_term']} → {first['new_term']}); "
                    "use new section IDs every term"
                ),
                entity=entity.name,
            )
        )
    return holds


def invalid_files(
    staged: RosterSet,
    accepted: RosterSet | RosterCounts | None,
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
    counts = as_counts(accepted)
    if counts is None:
        return holds
    for entity in ENTITIES:
        if entity.name in staged.missing or staged.table(entity.name).num_rows:
            continue
        had = counts.rows(entity.name)
        if not had:
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
