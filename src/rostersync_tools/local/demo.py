"""The guided scenario of ``make demo``: a district admin's two nights with rostersync, locally.

It starts the local product (:class:`~rostersync_tools.local.serve.LocalProduct`) and then acts only as
its users would, over the network: a generated district's day-1 files go up over SFTP (paramiko's
client) and are applied; day 2, in which one school lost most of its students (an end-of-term
export mistake) and another gained emergency contacts, is held at both schools. The admin reads
the holds and the email, downloads the CSV of changes through the release API (following the
presigned URL to the moto server), releases the school whose new contacts are wanted, rejects the
mistake, and reads the final per-school status and snapshot versions. Every step prints what the
admin would see.
"""

from __future__ import annotations

import csv
import dataclasses
import email
import email.policy
import io
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko
import requests
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from rostersync_tools.local.districts import LocalDistrict
from rostersync_tools.local.operations import wait_for
from rostersync_tools.local.serve import Endpoints, LocalProduct, ServeOptions
from rostersync_tools.synthetic import SyntheticDistrict, generate_district, write_clever_csv
from rostersync_tools.synthetic.scenario import (
    EMERGENCY_TYPES,
    Scenario,
    build_scenario,
    without_contact_types,
)

# The second district the demo onboards next to the first: its own SFTP login and admin.
NEIGHBOUR = LocalDistrict(
    district_id="lakeside",
    name="Lakeside School District",
    admin_email="admin@lakeside.example.org",
    sftp_user="lakeside",
)
NEIGHBOUR_STUDENTS = 150
SCHOOLS = 4
STEP_TIMEOUT = 45.0


class DemoError(RuntimeError):
    """The scenario did not go as the product promises."""


# ------------------------------------------------------------------------------------ data


# ------------------------------------------------------------------------------------ clients


class AdminClient:
    """The district admin's HTTP client of the release API (their bearer token)."""

    def __init__(self, endpoints: Endpoints, token: str | None = None) -> None:
        self.base = endpoints.api_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or endpoints.admin_token}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(self.base + path, params=params or None, timeout=30)
        if response.status_code != 200:
            raise DemoError(f"GET {path}: {response.status_code} {response.text}")
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.session.post(self.base + path, json=body, timeout=30)
        if response.status_code not in (200, 202):
            raise DemoError(f"POST {path}: {response.status_code} {response.text}")
        return response.json()


def sftp_upload(
    endpoints: Endpoints, folder: Path, login: tuple[str, str | None] | None = None
) -> list[tuple[str, int]]:
    """Upload every CSV of ``folder`` to the district's SFTP home (``login``: user and password
    of another district than the main one), checking the host key first."""
    transport = paramiko.Transport((endpoints.sftp_host, endpoints.sftp_port))
    try:
        transport.start_client(timeout=10)
        key = transport.get_remote_server_key()
        if key.fingerprint != endpoints.sftp_host_key_fingerprint:
            raise DemoError(f"unexpected SFTP host key {key.fingerprint}")
        user, password = login or (endpoints.sftp_user, endpoints.sftp_password)
        transport.auth_password(user, password or "")
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        sent = []
        for path in sorted(folder.glob("*.csv")):
            sftp.put(str(path), path.name)
            sent.append((path.name, path.stat().st_size))
        sftp.close()
        return sent
    finally:
        transport.close()


def wait_until(check: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT) -> Any:
    try:
        return wait_for(lambda: check() or None, timeout, lambda: what, interval=0.3)
    except TimeoutError:
        raise DemoError(f"timed out waiting for {what}") from None


# ------------------------------------------------------------------------------------ printing


def serve_banner(console: Console, endpoints: Endpoints) -> None:
    """Where everything is, and how to use it with the tools a user already has."""
    extra = endpoints.extra
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    password = endpoints.sftp_password or "(key only)"
    table.add_row("SFTP", f"sftp -P {endpoints.sftp_port} {endpoints.sftp_user}@{endpoints.sftp_host}")
    table.add_row("  password", password)
    table.add_row("  host key", endpoints.sftp_host_key_fingerprint)
    table.add_row("Console", f"{endpoints.console_url}  (sign in as the admin or the operator)")
    if extra.get("sftp_known_hosts"):
        table.add_row("  known_hosts", extra["sftp_known_hosts"])
    if extra.get("sftp_client_key"):
        table.add_row("  client key", f"{extra['sftp_client_key']} (registered for every district below)")
    table.add_row("Release API", endpoints.api_url)
    table.add_row("AWS APIs (moto)", f"{endpoints.aws_endpoint_url}  (aws --endpoint-url ...)")
    table.add_row("Outbox", endpoints.outbox)
    console.print(Panel(table, title="rostersync is running locally", expand=False))
    if extra.get("sftp_known_hosts_line"):
        console.print("SFTP host key, as a known_hosts line:", highlight=False)
        console.print(f"  {extra['sftp_known_hosts_line']}", soft_wrap=True, highlight=False)
    # Tokens are printed whole, never wrapped or cropped, so they can be copied.
    console.print(f"Admin of district {endpoints.district_id} ({endpoints.admin_email}):", highlight=False)
    console.print(f"  export TOKEN={endpoints.admin_token}", soft_wrap=True, highlight=False)
    for district in extra.get("districts", []):
        if district["district_id"] == endpoints.district_id:
            continue
        console.print(
            f"District {district['district_id']} ({district['name']}): SFTP user {district['sftp_user']}, "
            f"password {district['sftp_password'] or '(key only)'}; admin {district['admin_email']}:",
            highlight=False,
        )
        console.print(
            f"  export TOKEN_{_env_name(district['district_id'])}={district['admin_token']}",
            soft_wrap=True,
            highlight=False,
        )
    console.print(
        "Operator (every district; `rostersync districts` uses it from serve.json):", highlight=False
    )
    console.print(f"  export OPERATOR_TOKEN={endpoints.operator_token}", soft_wrap=True, highlight=False)
    console.print(
        f'Try: curl -H "Authorization: Bearer $TOKEN" '
        f'"{endpoints.api_url}/districts/{endpoints.district_id}/holds?status=open"',
        soft_wrap=True,
        highlight=False,
    )
    console.print("Ctrl-C stops everything.")


def _env_name(district_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in district_id).upper()


def _step(console: Console, number: int, title: str) -> None:
    console.print()
    console.rule(f"[bold]{number}. {title}")


def _district_table(district: SyntheticDistrict) -> Table:
    students = Counter(district.table("students").column("school_id").to_pylist())
    links = Counter(district.table("contact_links").column("school_id").to_pylist())
    sections = Counter(district.table("sections").column("school_id").to_pylist())
    table = Table(title=district.name)
    for column in ("school", "name", "students", "contact links", "sections"):
        table.add_column(column, justify="right" if column not in ("school", "name") else "left")
    names = dict(
        zip(
            district.table("schools").column("school_id").to_pylist(),
            district.table("schools").column("name").to_pylist(),
            strict=True,
        )
    )
    for school, name in sorted(names.items()):
        table.add_row(school, name, str(students[school]), str(links[school]), str(sections[school]))
    return table


def _schools_table(schools: dict[str, Any]) -> Table:
    table = Table(title="Schools")
    for column in ("school", "status", "last accepted sync", "last applied"):
        table.add_column(column)
    colors = {"connected": "green", "on_hold": "yellow"}
    for school in schools["schools"]:
        color = colors.get(school["status"], "red")
        table.add_row(
            school["school_id"],
            f"[{color}]{school['status']}[/{color}]",
            school.get("last_applied_sync_id") or "",
            (school.get("last_applied_at") or "")[:19].replace("T", " "),
        )
    return table


# ------------------------------------------------------------------------------------ scenario


def run_demo(
    options: ServeOptions,
    console: Console,
    *,
    students: int = 400,
    seed: int = 11,
    keep_serving: bool = False,
) -> int:
    """Run the scenario; 0 when every step went as expected. With ``keep_serving`` the local
    product stays up afterwards (until Ctrl-C) so the same district can be clicked through in
    the console."""
    started = time.monotonic()
    console.print(
        Panel.fit(
            "[bold]rostersync demo[/bold]: two districts onboarded side by side; one of them sends two\n"
            "nightly uploads, and the second night is held at two schools by safety holds.\n"
            "Everything runs on this machine: AWS is moto, the release API and SFTP are on 127.0.0.1.",
        )
    )
    if not options.extra_districts:
        options = dataclasses.replace(options, extra_districts=(NEIGHBOUR,))
    product = LocalProduct(options, log=lambda line: console.print(f"[dim]  server │[/dim] {line}"))
    try:
        with console.status("Starting the local stack..."):
            endpoints = product.start()
        serve_banner(console, endpoints)
        sync_id = _scenario(console, endpoints, options, students=students, seed=seed)
        console.print(f"\n[bold green]Demo finished in {time.monotonic() - started:.0f} s.[/bold green]")
        if keep_serving:
            _keep_serving(console, product, endpoints, sync_id)
    except DemoError as exc:
        console.print(f"[bold red]The demo failed:[/bold red] {exc}")
        return 1
    finally:
        product.stop()
    return 0


def _keep_serving(console: Console, product: LocalProduct, endpoints: Endpoints, sync_id: str) -> None:
    """Leave the local product running, pointing at the console page of the demo's held sync."""
    page = f"{endpoints.console_url}/districts/{endpoints.district_id}/syncs/{sync_id}"
    console.print(
        Panel.fit(
            f"The console: [bold]{endpoints.console_url}[/bold]\n"
            f"The sync the demo decided: {page}\n"
            f"Sign in as {endpoints.admin_email} (the district admin) or the operator; upload more "
            "files over SFTP (above) to see new holds.\nCtrl-C stops everything.",
            title="Still serving",
        ),
        soft_wrap=True,
    )
    console.file.flush()  # piped output (make demo | tee) shows the URLs before the wait
    try:
        product.wait()
    except KeyboardInterrupt:
        console.print("Stopping.")


@dataclasses.dataclass
class _Run:
    """What every step of the scripted scenario works with."""

    console: Console
    api: AdminClient
    endpoints: Endpoints
    options: ServeOptions
    scenario: Scenario

    @property
    def district_id(self) -> str:
        return self.endpoints.district_id

    def open_hold(self) -> dict[str, Any] | None:
        holds = self.api.get(f"/districts/{self.district_id}/holds", status="open")["holds"]
        return holds[0] if holds else None


def _scenario(
    console: Console, endpoints: Endpoints, options: ServeOptions, *, students: int, seed: int
) -> str:
    """The whole scripted scenario; the id of the sync that was held."""
    run = _Run(
        console,
        AdminClient(endpoints),
        endpoints,
        options,
        build_scenario(students, seed, endpoints.district_id, schools=SCHOOLS),
    )
    _day1(run)
    hold = _day2(run)
    sync_id = str(hold["sync_id"])
    _show_hold(run, hold)
    _show_email(run, sync_id)
    _download_changes(run, sync_id)
    _decide(run, sync_id)
    _standing(run)
    return sync_id


def _day1(run: _Run) -> None:
    console, api, district_id, scenario = run.console, run.api, run.district_id, run.scenario
    data = run.options.workdir / "data"
    _step(console, 1, "The district's SIS export (day 1)")
    write_clever_csv(scenario.day1, data / "day1")
    console.print(_district_table(scenario.day1))
    counts = scenario.day1.counts()
    console.print(
        f"{counts['students']} students, {counts['contacts']} contacts, {counts['teachers']} teachers, "
        f"{counts['sections']} sections, {counts['enrollments']} enrollments, "
        f"as Clever-style CSV in {data / 'day1'}"
    )

    _step(console, 2, "Nightly upload over SFTP (day 1)")
    for name, size in sftp_upload(run.endpoints, data / "day1"):
        console.print(f"  put {name:<18} {size:>9,} bytes")
    neighbour = _neighbour_uploads(run)
    console.print(
        f"Waiting for the set to be complete and quiet for {run.options.quiet_seconds} s, then processed..."
    )

    def applied_sync() -> dict[str, Any] | None:
        syncs = api.get(f"/districts/{district_id}/syncs")["syncs"]
        return next((s for s in syncs if s["status"] in ("applied", "held", "failed")), None)

    first = wait_until(applied_sync, "day 1 to be processed")
    if first["status"] != "applied":
        raise DemoError(f"day 1 was {first['status']}: {first}")
    console.print(
        f"[green]Day 1 applied[/green]: sync {first['sync_id']} → "
        f"accepted snapshot version {first['versions'][-1]}"
    )
    console.print(_schools_table(api.get(f"/districts/{district_id}/schools")))
    neighbour()


def _neighbour_uploads(run: _Run) -> Callable[[], None]:
    """The second district's own first upload, with its own login (sent while the first
    district's set is processed); what reports on it and on what its admin can see."""
    console = run.console
    neighbour = next(
        d for d in run.endpoints.extra.get("districts", []) if d["district_id"] != run.district_id
    )
    neighbour_id = neighbour["district_id"]
    data = run.options.workdir / "data" / neighbour_id
    district = without_contact_types(
        generate_district(students=NEIGHBOUR_STUDENTS, schools=2, seed=97, district_id=neighbour_id),
        EMERGENCY_TYPES,
    )
    write_clever_csv(district, data)
    console.print(
        f"Meanwhile {neighbour['name']} ({neighbour_id}) uploads its own export with its own login "
        f"[bold]{neighbour['sftp_user']}[/bold]; each login sees only its district's inbox."
    )
    sftp_upload(run.endpoints, data, (neighbour["sftp_user"], neighbour["sftp_password"]))
    neighbour_api = AdminClient(run.endpoints, neighbour["admin_token"])

    def applied() -> dict[str, Any] | None:
        syncs = neighbour_api.get(f"/districts/{neighbour_id}/syncs")["syncs"]
        return next((s for s in syncs if s["status"] in ("applied", "held", "failed")), None)

    def report() -> None:
        first = wait_until(applied, f"{neighbour_id}'s day 1 to be processed")
        if first["status"] != "applied":
            raise DemoError(f"{neighbour_id}'s day 1 was {first['status']}: {first}")
        refused = neighbour_api.session.get(
            f"{neighbour_api.base}/districts/{run.district_id}/syncs", timeout=30
        )
        console.print(
            f"[green]{neighbour['name']} applied[/green]: its version {first['versions'][-1]}. Its admin "
            f"asking for district {run.district_id}'s syncs is refused ({refused.status_code})."
        )

    return report


def _day2(run: _Run) -> dict[str, Any]:
    """Upload day 2; its open hold."""
    console, scenario = run.console, run.scenario
    data = run.options.workdir / "data"
    _step(console, 3, "Next night's upload (day 2)")
    write_clever_csv(scenario.day2, data / "day2")
    before, after = _students_per_school(scenario.day1), _students_per_school(scenario.day2)
    console.print(
        f"Overnight churn, plus two surprises: school {scenario.mistaken_school} exported only "
        f"{after[scenario.mistaken_school]} of its {before[scenario.mistaken_school]} students "
        f"(an end-of-term mistake), and school {scenario.contacts_school} added "
        f"{scenario.new_contacts} emergency contacts."
    )
    for name, size in sftp_upload(run.endpoints, data / "day2"):
        console.print(f"  put {name:<18} {size:>9,} bytes")
    hold: dict[str, Any] = wait_until(run.open_hold, "day 2 to be held")
    return hold


def _students_per_school(district: SyntheticDistrict) -> Counter[str]:
    return Counter(district.table("students").column("school_id").to_pylist())


def _show_hold(run: _Run, hold: dict[str, Any]) -> None:
    console = run.console
    _step(console, 4, "Day 2 is on hold: nothing destructive was applied")
    table = Table(title=f"Holds of sync {hold['sync_id']}")
    for column in ("school", "hold", "what tripped it", "what you can do"):
        table.add_column(column)
    for item in hold["holds"]:
        table.add_row(
            item["school_id"] or "district", item["type"], escape(item["message"]), escape(item["resolution"])
        )
    console.print(table)
    by_school: dict[str, list[str]] = {}
    for item in hold["holds"]:
        types = by_school.setdefault(item["school_id"] or "district", [])
        if item["type"] not in types:
            types.append(item["type"])
    summary = "; ".join(f"{school}: {', '.join(types)}" for school, types in sorted(by_school.items()))
    console.print(f"Hold summary: {summary}")


def _show_email(run: _Run, sync_id: str) -> None:
    _step(run.console, 5, "The email the district admins got")
    outbox = Path(run.endpoints.outbox)

    def hold_email() -> Path | None:
        # The sync also sends "partially applied" for the schools it applied; the admins act on
        # the hold email, the one naming the sync in its subject as on hold.
        for path in sorted(outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if f"sync {sync_id} is on hold" in str(message["Subject"]):
                return path
        return None

    eml = wait_until(hold_email, "the hold email in the outbox")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    lines = text.strip().splitlines()
    shown = "\n".join(lines[:30]) + ("\n..." if len(lines) > 30 else "")
    run.console.print(
        Panel(
            f"[bold]From:[/bold] {escape(str(message['From']))}\n"
            f"[bold]To:[/bold] {escape(str(message['To']))}\n"
            f"[bold]Subject:[/bold] {escape(str(message['Subject']))}\n\n{escape(shown)}",
            title=str(eml),
            expand=False,
        )
    )


def _download_changes(run: _Run, sync_id: str) -> None:
    console = run.console
    _step(console, 6, "Download the CSV of changes")
    link = run.api.get(f"/syncs/{sync_id}/changes.csv")
    response = requests.get(link["url"], timeout=30)
    if response.status_code != 200:
        raise DemoError(f"the presigned URL answered {response.status_code}")
    downloads = run.options.workdir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    saved = downloads / link["filename"]
    saved.write_bytes(response.content)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    console.print(f"GET {link['url'][:90]}... → {len(rows)} changes saved to {saved}")
    keys = [k for k in ("School ID", "Record type", "Change") if k in rows[0]] if rows else []
    if keys:
        table = Table(title="Changes by " + ", ".join(keys))
        for column in (*keys, "rows"):
            table.add_column(column)
        for values, count in sorted(Counter(tuple(r[k] for k in keys) for r in rows).items()):
            table.add_row(*values, str(count))
        console.print(table)


def _decide(run: _Run, sync_id: str) -> None:
    console, api, scenario = run.console, run.api, run.scenario
    _step(console, 7, f"Release school {scenario.contacts_school}, reject school {scenario.mistaken_school}")
    decision = api.post(
        f"/syncs/{sync_id}/release",
        {
            "schools": [scenario.contacts_school],
            "hold_types": ["emergency_contacts"],
            "comment": "the new emergency contacts are expected",
        },
    )
    console.print(f"POST /syncs/{sync_id}/release → released {decision['schools']} as {decision['actor']}")

    def released() -> dict[str, Any] | None:
        # The released school is applied, then the sync waits again for the rest.
        detail = api.get(f"/syncs/{sync_id}")
        hold = run.open_hold()
        waiting = (
            hold is not None
            and hold["sync_id"] == sync_id
            and hold["held_schools"] == [scenario.mistaken_school]
        )
        return detail if waiting and scenario.contacts_school in detail["applied_schools"] else None

    detail = wait_until(released, f"school {scenario.contacts_school} to be applied")
    console.print(
        f"School {scenario.contacts_school} applied (versions {detail['versions']}); "
        f"still held: {', '.join(detail['held_schools'])}"
    )
    decision = api.post(
        f"/syncs/{sync_id}/reject", {"comment": "export mistake; a corrected file will follow"}
    )
    console.print(f"POST /syncs/{sync_id}/reject → rejected the rest as {decision['actor']}")

    def finished() -> dict[str, Any] | None:
        detail = api.get(f"/syncs/{sync_id}")
        return detail if detail["status"] not in ("held", "running") else None

    final = wait_until(finished, "the sync to finish")
    console.print(f"Sync {sync_id} ended: [bold]{final['status']}[/bold]")


def _standing(run: _Run) -> None:
    console, api, district_id, scenario = run.console, run.api, run.district_id, run.scenario
    _step(console, 8, "Where the district stands")
    console.print(_schools_table(api.get(f"/districts/{district_id}/schools")))
    versions = api.get(f"/districts/{district_id}/versions")
    table = Table(title="Accepted snapshot versions")
    for column in ("version", "created", "by sync", "students", "contacts"):
        table.add_column(column)
    for version in versions["versions"]:
        table.add_row(
            str(version["version"]),
            version["created_at"][:19].replace("T", " "),
            version.get("sync_id") or "",
            str(version["counts"].get("students", "")),
            str(version["counts"].get("contacts", "")),
        )
    console.print(table)
    audit = api.get(f"/districts/{district_id}/audit")["entries"]
    for entry in reversed(audit):
        console.print(
            f"  audit: {entry['at'][:19]} {entry['actor']} {entry['action']} {entry.get('schools') or ''}"
        )
    before = _students_per_school(scenario.day1)
    console.print(
        f"School {scenario.mistaken_school} kept its {before[scenario.mistaken_school]} students; "
        f"school {scenario.contacts_school}'s new contacts are in version {versions['latest']}."
    )
