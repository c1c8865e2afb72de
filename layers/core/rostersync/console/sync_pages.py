"""The console's sync pages: a sync with each hold in words, its changes per school and record
type with the first rows, its CSV downloads, and the decision form (release some or all held
schools acknowledging the hold types, reject, or "I fixed it: check again").

The page's URL is ``/console/districts/<district_id>/syncs/<sync_id>``: what the hold emails
link to. A sync of another district, or one the caller may not see, is "not found".
"""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from rostersync import runtime
from rostersync.api import services
from rostersync.api.auth import Caller
from rostersync.api.deps import ApiDeps
from rostersync.api.models import ReleaseRequest
from rostersync.console.district_pages import district_label
from rostersync.console.views import (
    HOLD_CONFIRMATIONS,
    HOLD_TITLES,
    STATUS_SYMBOLS,
    changes_by_school,
    first_changes,
    held_school_choices,
    hold_lines,
    school_label,
    school_names,
    status_words,
)
from rostersync.console.web import PREFIX, Page
from rostersync.pipeline.decisions import DecisionError, SyncNotFoundError
from rostersync.pipeline.models import SyncRecord

DISTRICT_WIDE = ""  # the form value of the district-wide holds
# Hold types that stand for removals: a release may apply the rest and keep these held.
REMOVAL_HOLDS = frozenset({"mass_removal"})
# Seconds between reloads of a page whose decision is being applied.
APPLYING_REFRESH_SECONDS = 3


def _record(deps: ApiDeps, caller: Caller, district_id: str, sync_id: str) -> SyncRecord:
    """The sync, if it is of ``district_id`` and the caller may see it; else "not found"."""
    record = services.sync_for(deps, caller, sync_id)
    if record.district_id != district_id:
        raise SyncNotFoundError(f"no sync {sync_id}")
    return record


def _release_request(p: Page, held: list[str], district_wide: bool) -> ReleaseRequest | str:
    """The release the form asks for, or what is missing from it (in words)."""
    chosen = set(p.fields("school"))
    if not chosen:
        return "Select the schools to release."
    everything = set(held) | ({DISTRICT_WIDE} if district_wide else set())
    if chosen - everything:
        return "A selected school is no longer on hold; reload the page."
    if district_wide and DISTRICT_WIDE in chosen and chosen != everything:
        return "District-wide holds are released with every held school: select them all."
    schools = None if chosen == everything else sorted(chosen - {DISTRICT_WIDE})
    return ReleaseRequest(
        schools=schools,
        hold_types=p.fields("acknowledge"),
        comment=p.field("comment") or None,
        removals="keep_held" if p.field("keep_removals") else "apply",
    )


def build_router() -> Router:
    router = Router()

    @router.get(f"{PREFIX}/districts/<district_id>/syncs/<sync_id>")
    def sync_page(district_id: str, sync_id: str) -> Response[str]:
        p, deps = Page(router), runtime.api_deps()
        keys = _record(deps, p.caller, district_id, sync_id).keys
        detail = services.get_sync(deps, p.caller, sync_id)
        settings = services.get_settings(deps, p.caller, district_id)
        names = school_names(deps.snapshots, keys.get("school_names"))
        pending = [f for f in detail.schools if f.state == "held"]
        pending_types = sorted({h.type for f in pending for h in f.holds})
        waiting = bool(pending) and detail.status in ("held", "partially_applied")
        return p.render(
            "sync.html",
            district=settings,
            label=district_label(settings),
            sync=detail,
            status_text=status_words(detail.status),
            symbol=STATUS_SYMBOLS.get(detail.status, ""),
            holds=hold_lines(detail.holds, names),
            findings=detail.schools,
            choices=held_school_choices(detail.schools, names),
            pending_types=[(t, HOLD_TITLES.get(t, t), HOLD_CONFIRMATIONS.get(t, t)) for t in pending_types],
            changes=changes_by_school(deps.snapshots, keys.get("summary"), names),
            first=first_changes(deps.snapshots, keys.get("changes_csv")),
            school_label=lambda s: school_label(s, names),
            decidable=waiting and not detail.applying,
            applying=detail.applying,
            refresh_seconds=APPLYING_REFRESH_SECONDS if detail.applying else None,
            removal_holds=bool(REMOVAL_HOLDS & set(pending_types)),
        )

    @router.post(f"{PREFIX}/districts/<district_id>/syncs/<sync_id>/decision")
    def decide(district_id: str, sync_id: str) -> Response[str]:
        p, deps = Page(router), runtime.api_deps()
        record = _record(deps, p.caller, district_id, sync_id)
        here = p.url(f"/districts/{district_id}/syncs/{sync_id}")
        action = p.field("action")
        try:
            if action == "release":
                detail = services.get_sync(deps, p.caller, sync_id)
                district_wide = any(f.school_id is None and f.state == "held" for f in detail.schools)
                request = _release_request(p, record.held_schools, district_wide)
                if isinstance(request, str):
                    return p.redirect(here, flash=f"Not released: {request}")
                done = services.release(deps, p.caller, sync_id, request)
                which = ", ".join(done.schools) if done.schools else "every held school"
                kept = " (removals kept on hold)" if request.removals == "keep_held" else ""
                message = f"Released {which}{kept}. The changes are being applied."
            elif action == "reject":
                services.reject(deps, p.caller, sync_id, p.field("comment") or None)
                message = "Rejected: nothing more of this sync will be applied."
            elif action == "retry":
                services.retry(deps, p.caller, sync_id, p.field("comment") or None)
                message = "Checking again: the source is being read anew."
            else:
                return p.redirect(here, flash="Choose release, reject or check again.")
        except DecisionError as exc:
            text = str(exc).replace(" in hold_types", " (tick its box)")
            return p.redirect(here, flash=f"Not done: {text}")
        return p.redirect(here, flash=message)

    def download(district_id: str, sync_id: str, name: services.Download) -> Response[str]:
        p, deps = Page(router), runtime.api_deps()
        _record(deps, p.caller, district_id, sync_id)
        link = services.download(deps, p.caller, sync_id, name)
        return Response(
            status_code=HTTPStatus.FOUND,
            content_type="text/plain; charset=utf-8",
            body="",
            headers={"Location": link.url, "Cache-Control": "no-store"},
        )

    @router.get(f"{PREFIX}/districts/<district_id>/syncs/<sync_id>/changes.csv")
    def changes_csv(district_id: str, sync_id: str) -> Response[str]:
        return download(district_id, sync_id, "changes.csv")

    @router.get(f"{PREFIX}/districts/<district_id>/syncs/<sync_id>/errors.csv")
    def errors_csv(district_id: str, sync_id: str) -> Response[str]:
        return download(district_id, sync_id, "errors.csv")

    return router
