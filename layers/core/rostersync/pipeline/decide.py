"""The decide stage, state machine side: evaluate the hold rules, then await an admin's decision.

:func:`evaluate` runs the hold rules over the staged version and its changes (or turns a failed
pull or unreadable files into their hold), writes ``holds.json`` and records the holds and the
held schools. :func:`await_decision` is the ``.waitForTaskToken`` task: it stores the task token
behind a new opaque hold id, marks the sync held and emails the admins. The decision itself is
submitted by the API through :func:`rostersync.pipeline.decisions.submit_decision`, which lives
apart because the API function must not load pyarrow, which this module needs.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from rostersync import holds as holds_mod
from rostersync.holds.stored import evaluate_stored_change_set
from rostersync.issues import FileProblem
from rostersync.pipeline import emails, feed
from rostersync.pipeline.changesets import change_schools
from rostersync.pipeline.events import (
    AwaitDecisionInput,
    AwaitDecisionOutput,
    DiffOutput,
    EvaluateInput,
    EvaluateOutput,
    FetchOutput,
    NormalizeOutput,
    Progress,
)
from rostersync.pipeline.layout import district_prefix, sync_prefix
from rostersync.pipeline.models import DecisionToken, SyncRecord
from rostersync.pipeline.names import names_of
from rostersync.pipeline.ports import Deps
from rostersync.pipeline.pull import fetch_hold
from rostersync.pipeline.schools import set_school_states
from rostersync.records import Hold
from rostersync.roster import RosterSet
from rostersync.snapshot import latest_version, version_prefix

# A hold token outlives its timeout by a day in the table (TTL), so a late decision is told
# "expired" rather than "not found".
_TOKEN_TTL_MARGIN = timedelta(days=1)
_MAX_RECORDED_HOLDS = 200


# --- evaluate ------------------------------------------------------------------------------------


@dataclass
class Judgement:
    """What the hold rules found, against which accepted version, and where to write it."""

    found: list[Hold]
    base: int | None
    prefix: str
    releasable: bool
    changed_schools: set[str] = field(default_factory=set)
    # The district's removals mode: "never_automatic" applies the additions and changes of the
    # schools held for removals only before the sync waits.
    removals_mode: str = "hold_over_threshold"


# Holds about removals alone: under removals: never_automatic a school held only by these applies
# its additions and changes at once and keeps the removals held.
_REMOVAL_HOLDS = frozenset({"mass_removal", "stale_upload"})


def _removals_only_schools(found: list[Hold]) -> set[str]:
    """Schools whose every hold is about removals."""
    other = {h.school_id for h in found if h.type not in _REMOVAL_HOLDS}
    return {h.school_id for h in found if h.school_id is not None and h.school_id not in other}


def progress_of(judgement: Judgement) -> Progress:
    """The release progress a judgement starts: held schools, a district-wide hold, and the
    changed schools without a hold (applied first, when the sync is releasable). Under the
    district setting ``removals: never_automatic`` the schools held for removals only are applied
    first too, their removals kept held."""
    found = judgement.found
    held_schools = sorted({h.school_id for h in found if h.school_id is not None})
    district_hold = any(h.school_id is None for h in found)
    keep = judgement.removals_mode == "never_automatic"
    waiting = set(held_schools) - (_removals_only_schools(found) if keep else set())
    unheld = [] if district_hold or not judgement.releasable else sorted(judgement.changed_schools - waiting)
    return Progress(
        accepted_version=judgement.base,
        held_schools=held_schools,
        district_hold=district_hold,
        releasable=judgement.releasable,
        unheld_schools=unheld if found else [],
        unheld_removals="keep_held" if keep else "apply",
    )


def _source_failed(fetched: FetchOutput, deps: Deps, district_id: str) -> Judgement:
    # The source failed: nothing was read, so the only hold is the source's, and it can only be
    # retried (the fetch runs again) or rejected.
    base = latest_version(deps.snapshots, district_prefix(district_id))
    return Judgement(found=[fetch_hold(fetched)], base=base, prefix=fetched.prefix, releasable=False)


def _unreadable(normalized: NormalizeOutput, diffed: DiffOutput, deps: Deps) -> Judgement:
    key = normalized.problems_key
    problems = [FileProblem(**p) for p in json.loads(deps.snapshots.get(key))] if key else []
    if not problems:
        problems = [FileProblem("inbox", "no readable file set")]
    found = holds_mod.invalid_files(RosterSet(tables={}, format=""), None, problems)
    return Judgement(found=found, base=diffed.base_version, prefix=normalized.prefix, releasable=False)


def _rules(inp: EvaluateInput, normalized: NormalizeOutput, diffed: DiffOutput, deps: Deps) -> Judgement:
    assert normalized.staged_prefix is not None and diffed.changes_prefix is not None
    settings = deps.repo.get_settings(inp.district_id)
    base = diffed.base_version
    # Only the columns the rules read: the staged set projected, the accepted one per-school counts.
    accepted = version_prefix(deps.snapshots, district_prefix(inp.district_id), base) if base else None
    changes, found = evaluate_stored_change_set(
        deps.snapshots, diffed.changes_prefix, normalized.staged_prefix, accepted, settings
    )
    return Judgement(
        found=found,
        base=diffed.base_version,
        prefix=normalized.prefix,
        releasable=not any(h.type == "invalid_files" for h in found),
        changed_schools=change_schools(changes),
        removals_mode=settings.removals,
    )


def judge(inp: EvaluateInput, deps: Deps) -> Judgement:
    """The holds of this sync: a failed pull's, unreadable files', or the hold rules'."""
    if inp.fetch is not None and inp.fetch.outcome == "held":
        return _source_failed(inp.fetch, deps, inp.district_id)
    if inp.normalize is None or inp.diff is None:
        raise ValueError("evaluate needs the normalize and diff outputs, or a failed fetch")
    if inp.normalize.invalid:
        return _unreadable(inp.normalize, inp.diff, deps)
    return _rules(inp, inp.normalize, inp.diff, deps)


def evaluate(inp: EvaluateInput, deps: Deps) -> EvaluateOutput:
    """Evaluate the hold rules; write ``holds.json``; record the holds and per-school status."""
    judgement = judge(inp, deps)
    found = judgement.found
    holds_key = f"{judgement.prefix}/holds.json"
    deps.snapshots.put(holds_key, json.dumps([h.model_dump(mode="json") for h in found], indent=2).encode())
    progress = progress_of(judgement)
    held_schools = progress.held_schools
    recorded = [h.model_dump(mode="json", exclude={"sample_ids"}) for h in found[:_MAX_RECORDED_HOLDS]]
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        holds=recorded,
        held_schools=held_schools,
        applied_schools=[],
        releasable=judgement.releasable,
        keys={"holds": holds_key},
        hold_placed_at=None,
    )
    if held_schools:
        set_school_states(deps, inp.district_id, inp.sync_id, held_schools, "on_hold")
    feed.publish_held(
        deps,
        district_id=inp.district_id,
        sync_id=inp.sync_id,
        attempt=_attempt(inp),
        holds=found,
        progress=progress,
        holds_key=holds_key,
    )
    return EvaluateOutput(
        held=bool(found),
        holds=len(found),
        holds_key=holds_key,
        held_schools=len(held_schools),
        apply_unheld_first=bool(progress.unheld_schools),
        progress=progress,
    )


def _attempt(inp: EvaluateInput) -> int:
    made = inp.normalize or inp.fetch
    return made.attempt if made is not None else 1


# --- await decision ------------------------------------------------------------------------------


def _still_held(found: list[Hold], progress: Progress) -> list[Hold]:
    held = set(progress.held_schools)
    return [h for h in found if h.school_id is None or h.school_id in held]


def _first_round(deps: Deps, record: SyncRecord | None, applies: int) -> bool:
    """Whether this wait is the sync's first round (its hold email goes out), not a later one
    after an admin's partial release (whose applied email said what stays held).

    A token of the same round still open is a retried invocation's (the state machine retries
    a crashed AwaitDecision, with a new task token): the retry keeps the crashed attempt's answer,
    and that attempt's token is closed, as nothing waits on it any more."""
    if record is None or record.hold_id is None:
        return True
    earlier = deps.repo.get_token(record.hold_id)
    if earlier is None or earlier.status != "open" or earlier.round != applies:
        return False
    deps.repo.close_token(record.hold_id, "closed")
    return earlier.first_round


def await_decision(inp: AwaitDecisionInput, deps: Deps) -> AwaitDecisionOutput:
    """Store the task token behind a new opaque hold id, mark the sync held and email the admins.

    The token is written to the table only: it is never logged, returned or put in an email.
    """
    now = deps.clock()
    hold_id = secrets.token_urlsafe(24)
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    # The deadline is absolute from when the hold was first placed: a later round (after a
    # partial release) keeps it. evaluate clears hold_placed_at, so a retry places it afresh.
    placed = (record.hold_placed_at if record is not None else None) or now
    expires = placed + timedelta(seconds=inp.hold_timeout_seconds)
    attempt = record.attempt if record is not None else 1
    first_round = _first_round(deps, record, inp.progress.applies)
    deps.repo.put_token(
        DecisionToken(
            hold_id=hold_id,
            district_id=inp.district_id,
            sync_id=inp.sync_id,
            task_token=inp.task_token,
            status="open",
            round=inp.progress.applies,
            first_round=first_round,
            expires_at=int((expires + _TOKEN_TTL_MARGIN).timestamp()),
        )
    )
    status = "partially_applied" if inp.progress.applies else "held"
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status=status,
        reason="waiting for a decision",
        hold_id=hold_id,
        held_schools=inp.progress.held_schools,
        hold_expires_at=expires.isoformat(),
        hold_placed_at=placed.isoformat(),
    )
    deps.repo.set_lock_state(inp.district_id, inp.sync_id, "held")
    holds_key = (record.keys.get("holds") if record is not None else None) or (
        f"{sync_prefix(inp.district_id, inp.sync_id, attempt)}/holds.json"
    )
    found = [Hold.model_validate(h) for h in json.loads(deps.snapshots.get(holds_key))]
    settings = deps.repo.get_settings(inp.district_id)
    if not first_round:
        # A later round, after an admin's partial release: its applied email already said what
        # stays on hold, and until when (one decision, one email).
        return AwaitDecisionOutput(registered=True, round=inp.progress.applies, emailed=False)
    email = emails.hold_email(
        district_id=inp.district_id,
        sync_id=inp.sync_id,
        holds=_still_held(found, inp.progress),
        expires_at=expires,
        applied_schools=inp.progress.applied_schools,
        releasable=inp.progress.releasable,
        names=names_of(deps, inp.district_id, inp.sync_id),
    )
    sent = deps.mailer.send(
        district_id=inp.district_id,
        dedupe_key=f"hold-{inp.sync_id}-{attempt}-{inp.progress.applies}",
        to=settings.admin_emails,
        subject=email.subject,
        text=email.text,
        html=email.html,
    )
    return AwaitDecisionOutput(registered=True, round=inp.progress.applies, emailed=sent)
