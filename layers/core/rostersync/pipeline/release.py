"""The release stage: apply what is released (plan, promote a version, publish), then notify.

:func:`plan_release` is pure: from the sync's progress and the admin's choice of schools it
decides what this apply releases and what the progress becomes, or refuses (invalid files,
schools not on hold). :func:`apply` carries the plan out: it applies the released part of the
change set to the accepted version, writes the applied changes, promotes the new version (a
conditional create with ``writer=sync_id``, so a retried apply returns the version it already
promoted: the commit) and records the sync applied and the schools connected. :func:`notify`
delivers what follows the commit (``RosterChangesApplied`` once per version, the admins' email
once per apply), retried by the state machine; :func:`delivery_failed` records a delivery that
still fails (``delivery: failed``), never a failed apply.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from rostersync import reports
from rostersync.changes import ChangeSet
from rostersync.diff import apply_changes
from rostersync.pipeline import emails
from rostersync.pipeline.changesets import (
    change_counts,
    change_schools,
    has_removals,
    only_removals,
    only_schools,
    read_change_set,
    removal_schools,
    with_removals_of,
    without_removals,
    without_schools,
    write_change_set,
)
from rostersync.pipeline.events import (
    ApplyInput,
    ApplyOutput,
    DeliveryFailedInput,
    DeliveryFailedOutput,
    NotifyInput,
    NotifyOutput,
    Progress,
)
from rostersync.pipeline.finish import failure_reason
from rostersync.pipeline.layout import district_prefix
from rostersync.pipeline.models import RemovalsOption, SchoolStatus, SyncStatus
from rostersync.pipeline.names import names_of
from rostersync.pipeline.ports import Deps
from rostersync.pipeline.stage import accepted_roster
from rostersync.rekeys import present_pairs, publish
from rostersync.snapshot import join_key, promote_version, read_snapshot, version_prefix

APPLIED_DETAIL_TYPE = "RosterChangesApplied"


# --- the release plan (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReleasePlan:
    """What one apply releases, decided from the progress and the admin's choice alone.

    ``schools`` None applies every change not yet applied (the sync is complete afterwards);
    otherwise only the changes of those schools, and the rest stay on hold. ``released`` are the
    held schools whose hold this apply lifts. ``removals`` "keep_held" applies the additions and
    changes only: the removals stay held (see :meth:`progress_after`).
    """

    progress: Progress
    schools: list[str] | None
    released: list[str]
    removals: RemovalsOption = "apply"

    @property
    def complete(self) -> bool:
        return self.schools is None

    @property
    def status(self) -> SyncStatus:
        return "applied" if self.complete else "partially_applied"

    @property
    def reuses_diff(self) -> bool:
        """A first, complete apply applies the diff's own change set (nothing new to write)."""
        before = self.progress
        return (
            self.complete
            and self.removals == "apply"
            and not before.applied_schools
            and not before.removals_held
            and not before.removals_only
        )

    def promotes(self, counts: dict[str, int]) -> bool:
        """A new version is promoted when something changes, or for the district's first one."""
        return bool(sum(counts.values())) or self.progress.accepted_version is None

    def progress_after(self, version: int | None, kept: ChangeSet | None = None) -> Progress:
        """The progress once this apply promoted ``version`` (the accepted version it leaves).

        ``kept`` are the removals this apply kept held ("keep_held"): their schools are held
        again (and a removal without a school is a district-wide hold) until a later release."""
        before = self.progress
        held = set(before.held_schools)
        schools = self.schools
        kept_schools, unscoped = removal_schools(kept) if kept is not None else (set(), False)
        district_hold = (False if schools is None else before.district_hold) or unscoped
        removals_held = (set(before.removals_held) - set(self.released)) | kept_schools
        return before.model_copy(
            update={
                "accepted_version": version,
                "applied_schools": sorted(set(before.applied_schools) | set(self.released)),
                "unheld_schools": []
                if schools is None
                else sorted(set(before.unheld_schools) - set(schools)),
                "held_schools": sorted(kept_schools | (set() if schools is None else held - set(schools))),
                "district_hold": district_hold,
                "applies": before.applies + 1,
                "removals_held": sorted(removals_held),
                "removals_only": before.removals_only or (schools is None and kept is not None),
            }
        )


def pending_changes(changes: ChangeSet, progress: Progress) -> ChangeSet:
    """What of the diff's ``changes`` is not applied yet at ``progress``: the records of the
    schools not applied (only their removals once ``removals_only``), plus the removals kept held
    in applied schools (``removals_held``)."""
    rest = without_schools(changes, progress.applied_schools)
    if progress.removals_only:
        rest = only_removals(rest)
    kept_in_applied = sorted(set(progress.removals_held) & set(progress.applied_schools))
    if not kept_in_applied:
        return rest
    return with_removals_of(rest, only_removals(only_schools(changes, kept_in_applied)))


def plan_release(
    progress: Progress, schools: list[str] | None, removals: RemovalsOption = "apply"
) -> ReleasePlan:
    """The plan of releasing ``schools`` (None: everything) of a sync at ``progress``.

    Naming every school still held, with no district-wide hold, is releasing everything. Raises
    ValueError when the sync cannot be released (its files are invalid) or a school named is
    neither held nor among the changed schools without a hold.
    """
    if not progress.releasable:
        raise ValueError("this sync cannot be released: its files are invalid")
    held = set(progress.held_schools)
    if schools is not None:
        unknown = sorted(set(schools) - held - set(progress.unheld_schools))
        if unknown:
            raise ValueError(f"schools not on hold: {', '.join(unknown)}")
        if held <= set(schools) and not progress.district_hold:
            schools = None
    released = sorted(held) if schools is None else sorted(schools)
    return ReleasePlan(progress=progress, schools=schools, released=released, removals=removals)


def per_entity_counts(changes: ChangeSet) -> dict[str, dict[str, int]]:
    """Added, removed and changed rows of each entity that changed."""
    result = {}
    for name, ec in changes.entities.items():
        added, removed, changed = ec.counts
        if added or removed or changed:
            result[name] = {"added": added, "removed": removed, "changed": changed}
    return result


_NO_COUNTS = {"added": 0, "removed": 0, "changed": 0, "id_changed": 0}


def school_counts(changes: ChangeSet) -> dict[str, dict[str, int]]:
    """Per school, the records added, removed and changed over every entity, and re-keys
    (``id_changed``, counted in neither added nor removed), as the feed publishes them."""
    pairs = present_pairs(changes)
    parts = []
    for ec in changes.entities.values():
        published = publish(ec, pairs)
        for kind, table in (
            ("added", published.added),
            ("removed", published.removed),
            ("changed", ec.changed_new),
            ("id_changed", published.id_changed),
        ):
            if table.num_rows and "school_id" in table.column_names:
                schools = table.column("school_id")
                parts.append(pa.table({"school": schools, "kind": pa.repeat(pa.scalar(kind), len(schools))}))
    totals: dict[str, dict[str, int]] = {}
    if not parts:
        return totals
    grouped = pa.concat_tables(parts).group_by(["school", "kind"]).aggregate([([], "count_all")])
    for row in grouped.to_pylist():  # small: schools x four kinds
        if row["school"] is not None:
            counts = totals.setdefault(row["school"], dict(_NO_COUNTS))
            counts[row["kind"]] = row["count_all"]
    return totals


# --- apply ---------------------------------------------------------------------------------------


def apply(inp: ApplyInput, deps: Deps) -> ApplyOutput:
    """Apply the released part of the change set and promote a new accepted version.

    The applied change set is written first (a retried apply overwrites it); the promotion is
    the commit: from there on the sync is recorded ``applied`` (or ``partially_applied``) with
    ``delivery: pending``, and what follows (the event, the email) is :func:`notify`'s, retried
    on its own, so it can never turn an applied sync into a failed one."""
    now = deps.clock()
    plan = plan_release(inp.progress, inp.schools, inp.removals)
    staged_prefix, diff_prefix = inp.normalize.staged_prefix, inp.diff.changes_prefix
    if staged_prefix is None or diff_prefix is None:
        raise ValueError("nothing staged to apply")
    changes = pending_changes(read_change_set(deps.snapshots, diff_prefix), plan.progress)
    applying, kept = _split(changes if plan.schools is None else only_schools(changes, plan.schools), plan)
    counts = change_counts(applying)
    base = plan.progress.accepted_version
    promoted = plan.promotes(counts)
    # promote_version creates base + 1 (conditional on base): the changes are written there first.
    version = (base or 0) + 1 if promoted else base
    changes_prefix, changes_key = _applied_changes(inp, deps, plan, applying, version)
    if promoted:
        promoted_version = _promote(inp, deps, plan, applying, staged_prefix)
        if promoted_version != version:
            version = promoted_version
            changes_prefix, changes_key = _applied_changes(inp, deps, plan, applying, version)
    progress = plan.progress_after(version, kept)
    complete = plan.complete and kept is None
    _record(
        inp,
        deps,
        "applied" if complete else "partially_applied",
        progress,
        version if promoted else None,
        changes_prefix,
        now,
    )
    _mark_connected(inp, deps, applying, plan.released, now, still_held=set(progress.held_schools))
    return ApplyOutput(
        version=version,
        previous_version=base,
        promoted=promoted,
        complete=complete,
        schools=plan.schools,
        counts=counts,
        changes_prefix=changes_prefix,
        changes_key=changes_key,
        event_id=f"{inp.sync_id}-v{version}" if promoted else None,
        progress=progress,
    )


def _split(selected: ChangeSet, plan: ReleasePlan) -> tuple[ChangeSet, ChangeSet | None]:
    """What this apply applies, and the removals it keeps held (None: it keeps none)."""
    if plan.removals != "keep_held" or not has_removals(selected):
        return selected, None
    return without_removals(selected), only_removals(selected)


def _promote(inp: ApplyInput, deps: Deps, plan: ReleasePlan, applying: ChangeSet, staged_prefix: str) -> int:
    """Apply the plan's changes to the accepted version and promote the result (conditional
    create). ``applying`` is already narrowed to the released schools."""
    base = plan.progress.accepted_version
    staged = read_snapshot(deps.snapshots, staged_prefix)
    accepted = accepted_roster(deps, inp.district_id, base)
    roster = apply_changes(accepted, applying, staged=staged)
    return promote_version(
        deps.snapshots,
        district_prefix(inp.district_id),
        roster,
        expected_version=base,
        writer=inp.sync_id,
        meta={"sync_id": inp.sync_id, "schools": plan.schools},
    )


def _applied_changes(
    inp: ApplyInput, deps: Deps, plan: ReleasePlan, applying: ChangeSet, version: int | None
) -> tuple[str | None, str | None]:
    """Where the changes this apply applied are: the diff's own, or written for this version."""
    if plan.reuses_diff:
        return inp.diff.changes_prefix, inp.diff.changes_key
    changes_prefix = f"{inp.normalize.prefix}/applied/v{version or 0:06d}"
    write_change_set(deps.snapshots, changes_prefix, applying)
    changes_key = f"{changes_prefix}/changes.csv"
    buffer = io.BytesIO()
    reports.write_changes_csv(applying, buffer)
    deps.snapshots.put(changes_key, buffer.getvalue())
    return changes_prefix, changes_key


def _publish(inp: NotifyInput, deps: Deps, per_entity: dict[str, dict[str, int]]) -> None:
    """Put ``RosterChangesApplied`` for the promoted version (once: the event id is the dedupe key)."""
    applied = inp.apply
    if not applied.promoted or applied.version is None or applied.event_id is None:
        return
    d_prefix = district_prefix(inp.district_id)
    deps.bus.publish(
        district_id=inp.district_id,
        dedupe_key=applied.event_id,
        detail_type=APPLIED_DETAIL_TYPE,
        detail={
            "event_id": applied.event_id,
            "district_id": inp.district_id,
            "sync_id": inp.sync_id,
            "version": applied.version,
            "previous_version": applied.previous_version,
            "schools": applied.schools,
            "complete": applied.complete,
            "counts": applied.counts,
            "entities": per_entity,
            "bucket": deps.config.snapshot_bucket,
            "snapshot_prefix": version_prefix(deps.snapshots, d_prefix, applied.version),
            "changes_prefix": applied.changes_prefix,
            "changes_key": applied.changes_key,
        },
    )


def _record(
    inp: ApplyInput,
    deps: Deps,
    status: SyncStatus,
    progress: Progress,
    promoted_version: int | None,
    changes_prefix: str | None,
    now: datetime,
) -> None:
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    versions = sorted(
        {*(record.versions if record else []), *([promoted_version] if promoted_version else [])}
    )
    # A replayed apply of a version this sync already recorded keeps what its delivery said:
    # Notify ran (or runs) for that version; resetting it to pending would be a lie.
    replayed = record is not None and promoted_version is not None and promoted_version in record.versions
    delivery: dict[str, str | None] = {} if replayed else {"delivery": "pending", "delivery_error": None}
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status=status,
        applied_schools=progress.applied_schools,
        held_schools=progress.held_schools,
        versions=versions,
        keys={**(record.keys if record else {}), "applied_changes": changes_prefix},
        **delivery,
    )


def _mark_connected(
    inp: ApplyInput,
    deps: Deps,
    applying: ChangeSet,
    released: list[str],
    now: datetime,
    still_held: set[str],
) -> None:
    """Every school this apply touched is connected, with what was applied to it; a school whose
    removals this apply kept held stays on hold."""
    counts = school_counts(applying)
    for school in sorted((change_schools(applying) | set(released)) - still_held):
        deps.repo.put_school_status(
            SchoolStatus(
                district_id=inp.district_id,
                school_id=school,
                status="connected",
                sync_id=inp.sync_id,
                last_applied_sync_id=inp.sync_id,
                last_applied_at=now,
                counts=counts.get(school, dict(_NO_COUNTS)),
            )
        )


# --- notify --------------------------------------------------------------------------------------


def _entity_counts(deps: Deps, changes_prefix: str | None) -> dict[str, dict[str, int]]:
    if not changes_prefix:
        return {}
    try:
        index = json.loads(deps.snapshots.get(join_key(changes_prefix, "index.json")))
    except KeyError:
        return {}
    return dict(index.get("entities", {}))


def notify(inp: NotifyInput, deps: Deps) -> NotifyOutput:
    """Deliver what follows a committed apply: ``RosterChangesApplied`` and the admins' email
    (each once, by its dedupe key). Both are attempted; the first error is raised afterwards so
    the state machine retries the step (what was delivered is not repeated), and a delivery
    still failing after the retries is recorded by :func:`delivery_failed`."""
    settings = deps.repo.get_settings(inp.district_id)
    applied = inp.apply
    per_entity = _entity_counts(deps, applied.changes_prefix)
    errors: list[Exception] = []
    try:
        _publish(inp, deps, per_entity)
    except Exception as exc:  # the email still goes; the step is retried for the event
        errors.append(exc)
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    email = emails.applied_email(
        district_id=inp.district_id,
        sync_id=inp.sync_id,
        version=applied.version,
        counts=applied.counts,
        schools=applied.schools,
        complete=applied.complete,
        per_entity=per_entity,
        names=names_of(deps, inp.district_id, inp.sync_id),
        still_held=[] if applied.complete else applied.progress.held_schools,
        hold_expires_at=record.hold_expires_at if record is not None else None,
    )
    sent = False
    try:
        sent = deps.mailer.send(
            district_id=inp.district_id,
            dedupe_key=f"applied-{inp.sync_id}-{applied.progress.applies}-v{applied.version or 0}",
            to=settings.admin_emails,
            subject=email.subject,
            text=email.text,
            html=email.html,
        )
    except Exception as exc:
        errors.append(exc)
    if errors:
        raise errors[0]
    deps.repo.update_sync(
        inp.district_id, inp.sync_id, deps.clock(), delivery="delivered", delivery_error=None
    )
    return NotifyOutput(sent=sent)


def delivery_failed(inp: DeliveryFailedInput, deps: Deps) -> DeliveryFailedOutput:
    """The delivery after an apply still failed after its retries: say so on the sync (its
    status stays applied: the new version is accepted)."""
    reason = failure_reason(inp.error)
    deps.repo.update_sync(
        inp.district_id, inp.sync_id, deps.clock(), delivery="failed", delivery_error=reason
    )
    return DeliveryFailedOutput(delivery="failed", reason=reason)
