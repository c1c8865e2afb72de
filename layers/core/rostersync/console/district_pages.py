"""The console's district pages: all districts, a district's school board, its settings and
pause windows, versions and rollback, and its audit log. Every read and write is a call to the
release API's services with the signed-in caller, so the scope and the rules are the API's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from rostersync import runtime
from rostersync.api import services
from rostersync.api.auth import Caller
from rostersync.api.deps import ApiDeps
from rostersync.api.models import RollbackRequest
from rostersync.console.views import (
    SCHOOL_STATUS_WORDS,
    STATUS_SYMBOLS,
    latest_school_names,
    school_label,
    status_words,
)
from rostersync.console.web import PREFIX, Page
from rostersync.settings import DistrictSettings

RECENT_SYNCS = 10


def district_names(deps: ApiDeps, caller: Caller) -> list[DistrictSettings]:
    """The districts the caller may act for, by ID."""
    return sorted(
        (s for s in deps.repo.list_settings() if caller.may_act_for(s.district_id)),
        key=lambda s: s.district_id,
    )


def district_label(settings: DistrictSettings) -> str:
    return f"{settings.name} ({settings.district_id})" if settings.name else settings.district_id


def _overview_row(deps: ApiDeps, caller: Caller, settings: DistrictSettings) -> dict[str, Any]:
    d = settings.district_id
    holds = services.list_holds(deps, caller, d).holds
    latest = services.list_syncs(deps, caller, d, limit=1).syncs
    schools = services.list_schools(deps, caller, d)
    accepted = [s.last_applied_at for s in schools.schools if s.last_applied_at]
    if holds:
        state, words = (
            "held",
            f"On hold: {len(holds)} sync{'s' if len(holds) > 1 else ''} waiting for a decision",
        )
    elif schools.paused:
        state, words = "paused", "Paused"
    elif not latest:
        state, words = "not_connected", "No sync yet"
    elif latest[0].status in ("failed", "expired"):
        state, words = "failed", f"Last sync {status_words(latest[0].status).lower()}"
    else:
        state, words = "connected", "No decision waiting"
    return {
        "id": d,
        "label": district_label(settings),
        "state": state,
        "symbol": STATUS_SYMBOLS.get(state, ""),
        "words": words,
        "last_accepted": max(accepted) if accepted else None,
        "latest": latest[0] if latest else None,
    }


def build_router() -> Router:
    router = Router()

    def page() -> tuple[Page, ApiDeps]:
        return Page(router), runtime.api_deps()

    @router.get(PREFIX)
    def index() -> Response[str]:
        p, deps = page()
        districts = district_names(deps, p.caller)
        if p.caller.role == "district_admin" and len(districts) == 1:
            return p.redirect(p.url(f"/districts/{districts[0].district_id}"))
        return p.redirect(p.url("/districts"))

    @router.get(f"{PREFIX}/districts")
    def overview() -> Response[str]:
        p, deps = page()
        rows = [_overview_row(deps, p.caller, s) for s in district_names(deps, p.caller)]
        return p.render("overview.html", rows=rows, now=deps.clock())

    @router.get(f"{PREFIX}/districts/<district_id>")
    def board(district_id: str) -> Response[str]:
        p, deps = page()
        settings = services.get_settings(deps, p.caller, district_id)
        schools = services.list_schools(deps, p.caller, district_id)
        holds = services.list_holds(deps, p.caller, district_id).holds
        # Uploads folded into a later one of the same set are not worth a line each.
        listed = services.list_syncs(deps, p.caller, district_id, limit=5 * RECENT_SYNCS).syncs
        syncs = [s for s in listed if s.status != "coalesced"][:RECENT_SYNCS]
        return p.render(
            "board.html",
            district=settings,
            label=district_label(settings),
            schools=schools,
            holds=holds,
            syncs=syncs,
            names=latest_school_names(deps.snapshots, deps.repo.recent_syncs(district_id, 5 * RECENT_SYNCS)),
            school_label=school_label,
            school_words=SCHOOL_STATUS_WORDS,
            symbols=STATUS_SYMBOLS,
            status_words=status_words,
        )

    # ------------------------------------------------------------------ versions, audit
    @router.get(f"{PREFIX}/districts/<district_id>/versions")
    def versions(district_id: str) -> Response[str]:
        p, deps = page()
        settings = services.get_settings(deps, p.caller, district_id)
        listed = services.list_versions(deps, p.caller, district_id)
        return p.render("versions.html", district=settings, label=district_label(settings), versions=listed)

    @router.post(f"{PREFIX}/districts/<district_id>/rollback")
    def rollback(district_id: str) -> Response[str]:
        p, deps = page()
        try:
            body = RollbackRequest(version=int(p.field("version")), comment=p.field("comment") or None)
        except (ValueError, ValidationError):
            return p.redirect(
                p.url(f"/districts/{district_id}/versions"), flash="Choose a version to roll back to."
            )
        try:
            started = services.rollback(deps, p.caller, district_id, body)
        except (services.ConflictError, services.NotFoundError) as exc:
            return p.redirect(p.url(f"/districts/{district_id}/versions"), flash=f"Not rolled back: {exc}.")
        return p.redirect(
            p.url(f"/districts/{district_id}/syncs/{started.sync_id}"),
            flash=f"Rollback to version {body.version} started: the same holds as any upload check it.",
        )

    @router.get(f"{PREFIX}/districts/<district_id>/audit")
    def audit(district_id: str) -> Response[str]:
        p, deps = page()
        settings = services.get_settings(deps, p.caller, district_id)
        entries = services.list_audit(deps, p.caller, district_id).entries
        return p.render("audit.html", district=settings, label=district_label(settings), entries=entries)

    return router
