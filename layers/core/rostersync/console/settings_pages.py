"""The console's settings page: thresholds, emergency-contact handling, admin emails, schools,
hold expiry, time zone, sync cadence, and the pause windows, saved through the release API's
services (the same validation, floors and audit as ``PUT /districts/<d>/settings`` and
``/pause-windows``)."""

from __future__ import annotations

from datetime import date
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from rostersync import runtime
from rostersync.api import services
from rostersync.api.deps import ApiDeps
from rostersync.api.models import SettingsRequest
from rostersync.console.district_pages import district_label
from rostersync.console.web import PREFIX, Page
from rostersync.settings import DistrictSettings, PauseWindow


def build_router() -> Router:
    router = Router()

    def page() -> tuple[Page, ApiDeps]:
        return Page(router), runtime.api_deps()

    # ------------------------------------------------------------------ settings
    def settings_page(
        p: Page, deps: ApiDeps, district_id: str, errors: list[str], status: int
    ) -> Response[str]:
        settings = services.get_settings(deps, p.caller, district_id)
        pauses = services.get_pause_windows(deps, p.caller, district_id)
        return p.render(
            "settings.html",
            district=settings,
            label=district_label(settings),
            pauses=pauses,
            errors=errors,
            status=status,
            default_sync_hours=deps.config.sync_cadence_hours,
        )

    @router.get(f"{PREFIX}/districts/<district_id>/settings")
    def settings_form(district_id: str) -> Response[str]:
        p, deps = page()
        return settings_page(p, deps, district_id, [], HTTPStatus.OK)

    @router.post(f"{PREFIX}/districts/<district_id>/settings")
    def settings_save(district_id: str) -> Response[str]:
        p, deps = page()
        current = services.get_settings(deps, p.caller, district_id)
        try:
            body = SettingsRequest.model_validate(_settings_values(p, current))
            # The safety floors (an admin email, threshold limits) are checked by the service.
            services.put_settings(deps, p.caller, district_id, body)
        except ValidationError as exc:
            return settings_page(p, deps, district_id, _errors(exc), HTTPStatus.UNPROCESSABLE_ENTITY)
        return p.redirect(p.url(f"/districts/{district_id}/settings"), flash="Settings saved.")

    @router.post(f"{PREFIX}/districts/<district_id>/pause-windows")
    def pause_add(district_id: str) -> Response[str]:
        p, deps = page()
        current = services.get_pause_windows(deps, p.caller, district_id).windows
        try:
            added = PauseWindow(
                first_day=date.fromisoformat(p.field("first_day")),
                last_day=date.fromisoformat(p.field("last_day")),
            )
            services.put_pause_windows(deps, p.caller, district_id, [*current, added])
        except (ValueError, ValidationError) as exc:
            message = "; ".join(_errors(exc)) if isinstance(exc, ValidationError) else str(exc)
            return p.redirect(
                p.url(f"/districts/{district_id}/settings"), flash=f"Pause window not added: {message}"
            )
        return p.redirect(p.url(f"/districts/{district_id}/settings"), flash="Pause window added.")

    @router.post(f"{PREFIX}/districts/<district_id>/pause-windows/delete")
    def pause_delete(district_id: str) -> Response[str]:
        p, deps = page()
        try:
            first = date.fromisoformat(p.field("first_day"))
        except ValueError:
            return p.redirect(p.url(f"/districts/{district_id}/settings"), flash="No such pause window.")
        services.delete_pause_windows(deps, p.caller, district_id, first)
        return p.redirect(p.url(f"/districts/{district_id}/settings"), flash="Pause window removed.")

    return router


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _settings_values(p: Page, current: DistrictSettings) -> dict[str, Any]:
    """The whole settings request: the form's fields over what the district has now."""
    holds = current.holds.model_dump()
    for name in ("mass_removal_percent", "mass_update_percent", "id_change_percent"):
        holds[name] = p.field(name) or holds[name]
    for name in (
        "mass_removal_min_count",
        "mass_update_min_count",
        "id_change_min_count",
        "max_contacts_per_student",
        "stale_upload_days",
    ):
        holds[name] = p.field(name) or holds[name]
    holds["emergency_contacts"] = p.field("emergency_contacts") or holds["emergency_contacts"]
    holds["emergency_contact_types"] = _lines(p.field("emergency_contact_types"))
    holds["class_id_reuse"] = p.field("class_id_reuse") == "on"
    holds["schools_not_found"] = p.field("schools_not_found") == "on"
    values: dict[str, Any] = {
        "name": p.field("name") or None,
        "admin_emails": _lines(p.field("admin_emails")),
        "school_ids": _lines(p.field("school_ids")),
        "excluded_contact_types": _lines(p.field("excluded_contact_types")),
        "holds": holds,
    }
    if p.field("removals"):
        values["removals"] = p.field("removals")
    if p.field("hold_expiry_days"):
        values["hold_expiry_days"] = p.field("hold_expiry_days")
    elif "hold_expiry_days" in current.model_fields_set:
        values["hold_expiry_days"] = current.hold_expiry_days
    return values | _zone_and_cadence(p)


def _zone_and_cadence(p: Page) -> dict[str, Any]:
    """The time zone and the sync cadence, when the form carries them (omitted: kept)."""
    values: dict[str, Any] = {}
    if p.field("time_zone"):
        values["time_zone"] = p.field("time_zone")
    if "expected_sync_hours" in p.form:
        values["expected_sync_hours"] = p.field("expected_sync_hours") or None
        values["expected_sync_days"] = "weekdays" if p.field("sync_weekdays_only") == "on" else "every_day"
    return values


def _errors(exc: ValidationError) -> list[str]:
    """Each field error in words: which field, what was wrong."""
    out = []
    for error in exc.errors():
        where = " → ".join(str(part) for part in error.get("loc", ()) if part != "holds") or "settings"
        out.append(f"{where.replace('_', ' ')}: {error.get('msg', 'not valid')}")
    return out
