"""The admin console through the API function's handler, over moto: sign-in (code + PKCE),
sessions, CSRF, district scope (another district's pages are 404, like the API's by-id routes),
decisions through the API's services, and a property-based fuzz of every console route.

The identity provider is the local product's Hosted UI stand-in
(:class:`~rostersync_tools.local.signin.LocalSignIn`): the console's code path is the one it runs
on AWS with Cognito.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rostersync import runtime
from rostersync.api.deps import ApiDeps
from rostersync.aws import DynamoRepository, S3BlobStore
from rostersync.aws.presign import S3Presigner
from rostersync.console.session import SESSION_COOKIE, SIGN_IN_COOKIE, csrf_token
from rostersync.pipeline.config import get_config
from rostersync.pipeline.models import SchoolStatus
from rostersync.settings import DistrictSettings
from rostersync_tools.local.apigw import issue_token, proxy_event
from rostersync_tools.local.signin import LocalSignIn, LocalUser
from tests.support.api_helpers import (
    ADMIN_D1,
    ADMIN_D2,
    NO_ROLE,
    OPERATOR,
    SNAP,
    SYNC,
    TABLE,
    Clock,
    RecordingWorkflow,
    hold,
    seed_sync,
)
from tests.support.api_helpers import clock as clock
from tests.support.api_helpers import handler_module as handler_module
from tests.support.api_helpers import moto_api as moto_api
from tests.support.api_helpers import workflow as workflow
from tests.support.aws_fakes import FakeLambdaContext

pytestmark = pytest.mark.integration

SECRET = "console-test-secret-long-enough-for-hs256"
STAGE = "v1"


@pytest.fixture
def sign_in() -> LocalSignIn:
    return LocalSignIn(SECRET, lambda: [LocalUser("d1 admin", ADMIN_D1), LocalUser("operator", OPERATOR)])


@pytest.fixture
def deps(
    moto_api: None, workflow: RecordingWorkflow, clock: Clock, sign_in: LocalSignIn
) -> Iterator[ApiDeps]:
    built = ApiDeps(
        config=get_config(),
        repo=DynamoRepository(TABLE),
        snapshots=S3BlobStore(SNAP),
        workflow=workflow,
        presigner=S3Presigner(SNAP),
        clock=clock,
    )
    for district, name in (("d1", "Lincoln USD"), ("d2", "Riverside")):
        built.repo.put_settings(DistrictSettings(district_id=district, name=name))
    with runtime.provided(runtime.Provider(api=lambda: built, console=lambda: sign_in)):
        yield built


class Browser:
    """Requests to the console as API Gateway (stage v1) hands them to the function."""

    def __init__(self, handler: ModuleType, claims: dict[str, Any] | None = None) -> None:
        self.handler = handler
        self.token = issue_token(SECRET, claims) if claims else None
        self.cookies: dict[str, str] = {SESSION_COOKIE: self.token} if self.token else {}

    @property
    def csrf(self) -> str:
        assert self.token is not None
        return csrf_token(self.token)

    def request(self, method: str, path: str, form: dict[str, Any] | None = None, **query: str) -> Any:
        headers = {"Host": "127.0.0.1:9000"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form, doseq=True)
        event = proxy_event(method, path, query=query or None, headers=headers, body=body, stage=STAGE)
        result: dict[str, Any] = self.handler.lambda_handler(event, FakeLambdaContext())
        headers_out = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers_out[key] = values if key.lower() == "set-cookie" else values[-1]
        result["all_headers"] = headers_out
        return result

    def get(self, path: str, **query: str) -> Any:
        return self.request("GET", path, **query)

    def post(self, path: str, form: dict[str, Any]) -> Any:
        return self.request("POST", path, form)


def cookies_set(result: dict[str, Any]) -> list[str]:
    value = result["all_headers"].get("Set-Cookie") or []
    return [value] if isinstance(value, str) else list(value)


def text_of(result: dict[str, Any]) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", result["body"] or ""))


# ------------------------------------------------------------------------------------ sign-in


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    result = Browser(handler_module).get("/console/districts/d1")

    assert result["statusCode"] == 303
    assert result["all_headers"]["Location"] == "/v1/console/auth/sign-in?next=/v1/console/districts/d1"


def test_the_code_flow_with_pkce_ends_in_an_httponly_secure_lax_session(
    deps: ApiDeps, handler_module: ModuleType, sign_in: LocalSignIn
) -> None:
    browser = Browser(handler_module)
    start = browser.get("/console/auth/sign-in", next="/v1/console/districts/d1")
    location = urlsplit(start["all_headers"]["Location"])
    asked = {k: v[0] for k, v in parse_qs(location.query).items()}
    (pending,) = cookies_set(start)
    browser.cookies[SIGN_IN_COOKIE] = pending.split(";")[0].split("=", 1)[1]
    chosen = sign_in.handle(
        {"httpMethod": "POST", "body": urlencode({**asked, "user": "0"})}
    )  # the provider's page: the d1 admin
    code = parse_qs(urlsplit(chosen["headers"]["Location"]).query)

    done = browser.get("/console/auth/callback", code=code["code"][0], state=code["state"][0])

    assert asked["redirect_uri"] == "http://127.0.0.1:9000/v1/console/auth/callback"
    assert location.path == "/local-sign-in"
    assert done["statusCode"] == 303
    assert done["all_headers"]["Location"] == "/v1/console/districts/d1"
    (session,) = cookies_set(done)
    assert session.startswith(f"{SESSION_COOKIE}=")
    assert "; Path=/v1/console;" in session and session.endswith("; HttpOnly; Secure; SameSite=Lax")
    token = session.split(";")[0].split("=", 1)[1]
    assert sign_in.verify(token)["custom:districts"] == "d1"  # type: ignore[index]


def test_a_callback_whose_state_was_not_started_in_this_browser_is_refused(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    browser = Browser(handler_module)
    browser.cookies[SIGN_IN_COOKIE] = "mine.verifier.%2Fv1%2Fconsole"

    result = browser.get("/console/auth/callback", code="any", state="theirs")

    assert result["statusCode"] == 400
    assert "Sign-in failed" in text_of(result)
    assert not cookies_set(result)


def test_a_signed_in_user_without_a_role_is_refused(deps: ApiDeps, handler_module: ModuleType) -> None:
    result = Browser(handler_module, NO_ROLE).get("/console/districts")

    assert result["statusCode"] == 403
    assert "neither a district admin nor an operator" in text_of(result)


# ------------------------------------------------------------------------------------ scope

OTHER_DISTRICT_GETS = [
    "/console/districts/d1",
    "/console/districts/d1/settings",
    "/console/districts/d1/versions",
    "/console/districts/d1/audit",
    f"/console/districts/d1/syncs/{SYNC}",
    f"/console/districts/d1/syncs/{SYNC}/changes.csv",
    f"/console/districts/d1/syncs/{SYNC}/errors.csv",
    # d1's sync under the caller's own district is not found either
    f"/console/districts/d2/syncs/{SYNC}",
]
OTHER_DISTRICT_POSTS = [
    (f"/console/districts/d1/syncs/{SYNC}/decision", {"action": "reject"}),
    (f"/console/districts/d2/syncs/{SYNC}/decision", {"action": "reject"}),
    ("/console/districts/d1/settings", {"name": "taken"}),
    ("/console/districts/d1/pause-windows", {"first_day": "2027-07-01", "last_day": "2027-07-31"}),
    ("/console/districts/d1/pause-windows/delete", {"first_day": "2027-07-01"}),
    ("/console/districts/d1/rollback", {"version": "1"}),
]


@pytest.mark.parametrize("path", OTHER_DISTRICT_GETS)
def test_another_districts_page_is_not_found(deps: ApiDeps, handler_module: ModuleType, path: str) -> None:
    seed_sync(deps)
    result = Browser(handler_module, ADMIN_D2).get(path)

    assert result["statusCode"] == 404
    assert "Not found" in text_of(result)


@pytest.mark.parametrize(("path", "form"), OTHER_DISTRICT_POSTS)
def test_another_districts_form_is_not_found_and_changes_nothing(
    deps: ApiDeps, handler_module: ModuleType, path: str, form: dict[str, str]
) -> None:
    seed_sync(deps)
    browser = Browser(handler_module, ADMIN_D2)

    result = browser.post(path, {**form, "csrf": browser.csrf})

    assert result["statusCode"] == 404
    assert deps.repo.get_sync("d1", SYNC).status == "held"  # type: ignore[union-attr]
    assert deps.repo.get_settings("d1").name == "Lincoln USD"
    assert deps.repo.list_audit("d1") == []


def test_the_operator_overview_lists_every_district_with_its_name_and_id(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    seed_sync(deps)

    result = Browser(handler_module, OPERATOR).get("/console/districts")

    text = text_of(result)
    assert result["statusCode"] == 200
    assert "Lincoln USD (d1) ! On hold: 1 sync waiting for a decision" in text
    assert "Riverside (d2) – No sync yet" in text


# ------------------------------------------------------------------------------------ pages, decisions


def test_the_held_sync_page_says_each_hold_in_words_under_a_strict_csp(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    seed_sync(deps, held_schools=["sch-001"], holds=[hold("sch-001")])

    result = Browser(handler_module, ADMIN_D1).get(f"/console/districts/d1/syncs/{SYNC}")

    headers = result["all_headers"]
    assert result["statusCode"] == 200
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'self';")
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert "sch-001: Mass removal" in text_of(result)
    assert 'name="csrf" value="' in result["body"]


def test_a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    seed_sync(deps)
    browser = Browser(handler_module, ADMIN_D1)

    result = browser.post(
        f"/console/districts/d1/syncs/{SYNC}/decision", {"action": "reject", "csrf": "forged"}
    )

    assert result["statusCode"] == 403
    assert deps.repo.get_sync("d1", SYNC).status == "held"  # type: ignore[union-attr]
    assert deps.repo.list_audit("d1") == []


def test_releasing_without_acknowledging_the_hold_type_is_refused_in_words(
    deps: ApiDeps, handler_module: ModuleType, workflow: RecordingWorkflow
) -> None:
    seed_sync(deps, held_schools=["sch-001"], holds=[hold("sch-001")])
    browser = Browser(handler_module, ADMIN_D1)

    result = browser.post(
        f"/console/districts/d1/syncs/{SYNC}/decision",
        {"action": "release", "school": "sch-001", "csrf": browser.csrf},
    )

    assert result["statusCode"] == 303
    (flash,) = cookies_set(result)
    message = unquote(flash.split(";")[0].split("=", 1)[1])
    assert message == "Not done: acknowledge the hold types being released (tick its box): mass_removal"
    assert workflow.successes == []


def test_releasing_one_school_goes_through_the_api_services_and_is_audited(
    deps: ApiDeps, handler_module: ModuleType, workflow: RecordingWorkflow
) -> None:
    seed_sync(deps)  # sch-001 and sch-002 held for mass removal
    browser = Browser(handler_module, ADMIN_D1)

    result = browser.post(
        f"/console/districts/d1/syncs/{SYNC}/decision",
        {"action": "release", "school": "sch-002", "acknowledge": "mass_removal", "csrf": browser.csrf},
    )

    assert result["statusCode"] == 303
    assert result["all_headers"]["Location"] == f"/v1/console/districts/d1/syncs/{SYNC}"
    ((_, output),) = workflow.successes
    assert output["schools"] == ["sch-002"]
    (entry,) = deps.repo.list_audit("d1")
    assert (entry.actor, entry.schools) == ("admin@d1.example.org", ["sch-002"])


def _flash(result: dict[str, Any]) -> str:
    (cookie,) = cookies_set(result)
    return unquote(cookie.split(";")[0].split("=", 1)[1])


def test_after_a_partial_release_the_page_says_applying_and_offers_no_decision(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    seed_sync(deps)  # sch-001 and sch-002 held; the recording workflow never opens a next round
    browser = Browser(handler_module, ADMIN_D1)
    page = f"/console/districts/d1/syncs/{SYNC}"
    browser.post(
        f"{page}/decision",
        {"action": "release", "school": "sch-002", "acknowledge": "mass_removal", "csrf": browser.csrf},
    )

    result = browser.get(page)

    assert "Applying… Applying the decision just taken." in text_of(result)
    assert 'name="action"' not in result["body"]
    assert '<meta http-equiv="refresh" content="3">' in result["body"]


def test_a_reject_before_the_next_decision_round_opens_is_refused_as_still_being_applied(
    deps: ApiDeps, handler_module: ModuleType, workflow: RecordingWorkflow
) -> None:
    seed_sync(deps)
    browser = Browser(handler_module, ADMIN_D1)
    page = f"/console/districts/d1/syncs/{SYNC}"
    browser.post(
        f"{page}/decision",
        {"action": "release", "school": "sch-002", "acknowledge": "mass_removal", "csrf": browser.csrf},
    )

    result = browser.post(f"{page}/decision", {"action": "reject", "csrf": browser.csrf})

    assert _flash(result) == (
        f"Not done: the hold of sync {SYNC} was already decided (release by admin@d1.example.org) "
        "and that decision is still being applied; try again in a few seconds"
    )
    assert len(workflow.successes) == 1


def test_an_open_decision_round_shows_the_buttons_and_no_refresh(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    seed_sync(deps)

    result = Browser(handler_module, ADMIN_D1).get(f"/console/districts/d1/syncs/{SYNC}")

    assert 'name="action" value="reject"' in result["body"]
    assert "http-equiv" not in result["body"] and "Applying" not in text_of(result)


def test_the_keep_removals_option_is_offered_only_for_removal_holds(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    browser = Browser(handler_module, ADMIN_D1)
    seed_sync(deps, held_schools=["sch-001"], holds=[hold("sch-001")])
    seed_sync(
        deps, sync_id="s-contacts", held_schools=["sch-001"], holds=[hold("sch-001", "too_many_contacts")]
    )

    removals = browser.get(f"/console/districts/d1/syncs/{SYNC}")
    contacts = browser.get("/console/districts/d1/syncs/s-contacts")

    assert "Apply adds and updates, keep removals held" in text_of(removals)
    assert 'name="keep_removals"' not in contacts["body"]


def test_releasing_with_keep_removals_ticked_keeps_the_removals_held(
    deps: ApiDeps, handler_module: ModuleType, workflow: RecordingWorkflow
) -> None:
    seed_sync(deps, held_schools=["sch-001"], holds=[hold("sch-001")])
    browser = Browser(handler_module, ADMIN_D1)

    result = browser.post(
        f"/console/districts/d1/syncs/{SYNC}/decision",
        {
            "action": "release",
            "school": "sch-001",
            "acknowledge": "mass_removal",
            "keep_removals": "1",
            "csrf": browser.csrf,
        },
    )

    ((_, output),) = workflow.successes
    assert (output["schools"], output["removals"]) == (None, "keep_held")
    assert (
        _flash(result) == "Released every held school (removals kept on hold). The changes are being applied."
    )
    (entry,) = deps.repo.list_audit("d1")
    assert entry.details["removals"] == "keep_held"


def test_the_school_board_counts_rekeys_apart_from_additions_and_removals(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    deps.repo.put_school_status(
        SchoolStatus(
            district_id="d1",
            school_id="SCH1",
            status="connected",
            counts={"added": 3, "removed": 1, "changed": 2, "id_changed": 7},
        )
    )

    page = Browser(handler_module, ADMIN_D1).get("/console/districts/d1")

    assert "Added Removed Changed Re-keyed" in text_of(page)
    assert "SCH1 ✓ Connected never 3 1 2 7" in text_of(page)


def _sync_with_summary(deps: ApiDeps, rows: list[dict[str, Any]]) -> None:
    deps.snapshots.put("d1/syncs/summary.json", json.dumps(rows).encode())
    seed_sync(deps, held_schools=["SCH1"], holds=[hold("SCH1")], keys={"summary": "d1/syncs/summary.json"})


def test_the_sync_page_counts_rekeys_apart_from_additions_and_removals(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    counts = {"baseline": 80, "staged": 80, "added": 0, "removed": 0, "changed": 0, "id_changed": 20}
    _sync_with_summary(deps, [{"entity": "students", "school_id": "SCH1", **counts}])

    page = text_of(Browser(handler_module, ADMIN_D1).get(f"/console/districts/d1/syncs/{SYNC}"))

    assert "Added Removed Changed Re-keyed" in page
    assert "SCH1 students 80 80 0 0 0 20" in page


def test_the_sync_page_reads_a_summary_written_before_rekeys_were_counted(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    counts = {"baseline": 80, "staged": 80, "added": 20, "removed": 20, "changed": 0}
    _sync_with_summary(deps, [{"entity": "students", "school_id": "SCH1", **counts}])

    page = text_of(Browser(handler_module, ADMIN_D1).get(f"/console/districts/d1/syncs/{SYNC}"))

    assert "SCH1 students 80 80 20 20 0 0" in page


def test_settings_saved_from_the_form_are_the_districts_and_bad_values_are_named(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    browser = Browser(handler_module, ADMIN_D1)
    form = {"name": "Lincoln Unified", "admin_emails": "a@d1.example.org\nb@d1.example.org"}

    saved = browser.post(
        "/console/districts/d1/settings", {**form, "mass_removal_percent": "12", "csrf": browser.csrf}
    )
    refused = browser.post(
        "/console/districts/d1/settings", {**form, "mass_removal_percent": "120", "csrf": browser.csrf}
    )

    assert saved["statusCode"] == 303
    settings_now = deps.repo.get_settings("d1")
    assert settings_now.name == "Lincoln Unified"
    assert settings_now.admin_emails == ["a@d1.example.org", "b@d1.example.org"]
    assert settings_now.holds.mass_removal_percent == 12
    assert refused["statusCode"] == 422
    assert "mass removal percent: Input should be less than or equal to 100" in text_of(refused)


def test_the_id_change_limits_and_the_removals_mode_are_saved_from_the_settings_form(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    browser = Browser(handler_module, ADMIN_D1)
    form = {
        "admin_emails": "a@d1.example.org",
        "id_change_percent": "2.5",
        "id_change_min_count": "3",
        "removals": "never_automatic",
        "csrf": browser.csrf,
    }

    saved = browser.post("/console/districts/d1/settings", form)
    page = browser.get("/console/districts/d1/settings")

    assert saved["statusCode"] == 303
    stored = deps.repo.get_settings("d1")
    assert (stored.holds.id_change_percent, stored.holds.id_change_min_count, stored.removals) == (
        2.5,
        3,
        "never_automatic",
    )
    assert 'value="never_automatic" id="removals-never_automatic" checked' in page["body"]


def test_the_time_zone_and_sync_cadence_are_saved_from_the_settings_form(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    browser = Browser(handler_module, ADMIN_D1)
    form = {"admin_emails": "a@d1.example.org", "time_zone": "America/Chicago"}

    saved = browser.post(
        "/console/districts/d1/settings",
        {**form, "expected_sync_hours": "72", "sync_weekdays_only": "on", "csrf": browser.csrf},
    )
    refused = browser.post(
        "/console/districts/d1/settings",
        {**form, "time_zone": "america/denver", "expected_sync_hours": "", "csrf": browser.csrf},
    )

    assert saved["statusCode"] == 303
    stored = deps.repo.get_settings("d1")
    assert (stored.time_zone, stored.expected_sync_hours, stored.expected_sync_days) == (
        "America/Chicago",
        72,
        "weekdays",
    )
    assert refused["statusCode"] == 422
    assert (
        "time zone: Value error, not a time zone: america/denver (did you mean America/Denver?)"
        in text_of(refused)
    )


def test_an_empty_cadence_on_the_form_is_the_stacks_default(
    deps: ApiDeps, handler_module: ModuleType
) -> None:
    deps.repo.put_settings(
        DistrictSettings(
            district_id="d1", name="Lincoln USD", admin_emails=["a@d1.example.org"], expected_sync_hours=72
        )
    )
    browser = Browser(handler_module, ADMIN_D1)

    browser.post(
        "/console/districts/d1/settings",
        {"admin_emails": "a@d1.example.org", "expected_sync_hours": "", "csrf": browser.csrf},
    )

    assert deps.repo.get_settings("d1").expected_sync_hours is None


# ------------------------------------------------------------------------------------ fuzz

ROUTES = [
    ("GET", "/console"),
    ("GET", "/console/districts"),
    ("GET", "/console/districts/{d}"),
    ("GET", "/console/districts/{d}/settings"),
    ("GET", "/console/districts/{d}/versions"),
    ("GET", "/console/districts/{d}/audit"),
    ("GET", "/console/districts/{d}/syncs/{s}"),
    ("GET", "/console/districts/{d}/syncs/{s}/changes.csv"),
    ("GET", "/console/districts/{d}/syncs/{s}/errors.csv"),
    ("POST", "/console/districts/{d}/syncs/{s}/decision"),
    ("POST", "/console/districts/{d}/settings"),
    ("POST", "/console/districts/{d}/pause-windows"),
    ("POST", "/console/districts/{d}/pause-windows/delete"),
    ("POST", "/console/districts/{d}/rollback"),
    ("GET", "/console/auth/callback"),
    ("POST", "/console/auth/sign-out"),
    ("DELETE", "/console/districts/{d}"),
]
FIELDS = [
    "action",
    "school",
    "acknowledge",
    "comment",
    "name",
    "admin_emails",
    "mass_removal_percent",
    "hold_expiry_days",
    "first_day",
    "last_day",
    "version",
    "emergency_contacts",
    "school_ids",
    "keep_removals",
    "time_zone",
    "expected_sync_hours",
    "sync_weekdays_only",
]
segment = st.one_of(st.sampled_from(["d1", "d2", SYNC, "", "..", "%00"]), st.text(min_size=1, max_size=12))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    district=segment,
    sync=segment,
    form=st.dictionaries(st.sampled_from(FIELDS), st.lists(st.text(max_size=30), max_size=3), max_size=6),
    who=st.sampled_from([ADMIN_D1, ADMIN_D2, OPERATOR, None]),
    with_csrf=st.booleans(),
)
def test_no_console_request_is_answered_with_a_server_error(
    deps: ApiDeps,
    handler_module: ModuleType,
    route: tuple[str, str],
    district: str,
    sync: str,
    form: dict[str, list[str]],
    who: dict[str, Any] | None,
    with_csrf: bool,
) -> None:
    if deps.repo.get_sync("d1", SYNC) is None:
        seed_sync(deps)
    browser = Browser(handler_module, who)
    method, template = route
    path = template.replace("{d}", district.replace("/", "_")).replace("{s}", sync.replace("/", "_"))
    body = {**form, "csrf": browser.csrf} if with_csrf and who else form

    result = browser.request(method, path, body if method == "POST" else None)

    assert result["statusCode"] < 500, (method, path, result["body"][:500])
