"""``rostersync districts``: the operator's onboarding commands, over the release API.

Each command is one call of ``/operator/districts`` (docs/api.md) with an operator's token: the
deployed API (``--api-url`` and ``--token``, or ``ROSTERSYNC_API_URL`` / ``ROSTERSYNC_TOKEN``) or
the local product's (``rostersync serve`` writes its URL and operator token to
``.rostersync/serve.json``, read by default). Exit codes: 0 done, 2 the API refused the request
or could not be reached (its message is printed).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

EXIT_DONE = 0
EXIT_REFUSED = 2
DEFAULT_SERVE_JSON = Path(".rostersync") / "serve.json"
TIMEOUT_SECONDS = 30


class CommandError(Exception):
    """What to tell the operator instead of a traceback."""


def add_parser(sub: Any) -> None:
    """The ``districts`` command and its subcommands, on ``rostersync``'s subparsers."""
    districts = sub.add_parser("districts", help="onboard districts and their SFTP users (operator)")
    districts.add_argument(
        "--api-url", help="release API base URL (default: $ROSTERSYNC_API_URL or serve.json)"
    )
    districts.add_argument("--token", help="operator's ID token (default: $ROSTERSYNC_TOKEN or serve.json)")
    districts.add_argument(
        "--serve-json", type=Path, default=DEFAULT_SERVE_JSON, help="the local product's serve.json"
    )
    commands = districts.add_subparsers(dest="districts_command", required=True)

    commands.add_parser("list", help="every onboarded district")
    show = commands.add_parser("show", help="a district's profile, settings and SFTP users")
    show.add_argument("district_id")

    add = commands.add_parser("add", help="onboard a district")
    add.add_argument("district_id")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--time-zone",
        default="UTC",
        help="IANA time zone, e.g. America/Chicago: stored in the district's settings (time_zone)",
    )
    add.add_argument("--admin", action="append", required=True, help="admin email (repeat for more)")
    add.add_argument("--school", action="append", default=[], help="school ID to sync (default: all)")
    add.add_argument("--holds", type=Path, help="JSON file of hold thresholds (docs/holds.md)")
    add.add_argument("--source", type=Path, help="JSON file of the source (docs/connectors.md); default SFTP")
    add.add_argument("--credentials", type=Path, help="JSON file of the source's credentials")
    add.add_argument("--pull-at", action="append", default=[], help="local time of a scheduled pull, HH:MM")
    add.add_argument("--sftp-user", help="also add this SFTP user (with --ssh-key)")
    add.add_argument("--ssh-key", action="append", type=Path, default=[], help="OpenSSH public key file")

    user = commands.add_parser("add-user", help="add an SFTP user with SSH public keys")
    user.add_argument("district_id")
    user.add_argument("username")
    user.add_argument("--ssh-key", action="append", type=Path, required=True, help="OpenSSH public key file")

    remove = commands.add_parser("remove-user", help="remove an SFTP user")
    remove.add_argument("district_id")
    remove.add_argument("username")

    deactivate = commands.add_parser("deactivate", help="delete its SFTP users and stop its pulls")
    deactivate.add_argument("district_id")

    pull = commands.add_parser("pull", help="pull the district's source now")
    pull.add_argument("district_id")


@dataclass
class Api:
    url: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        try:
            response = requests.request(
                method,
                self.url.rstrip("/") + path,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise CommandError(f"cannot reach the API at {self.url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise CommandError(_refusal(response.status_code, response.text))
        return response.json()


def _refusal(status: int, text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return f"the API answered {status}"
    lines = [f"the API answered {status}: {body.get('message', '')}"]
    for problem in body.get("detail") or []:
        where = ".".join(part for part in problem.get("loc", []) if part not in ("body",))
        lines.append(f"  {where}: {problem.get('msg', '').removeprefix('Value error, ')}")
    return "\n".join(lines)


def _api(args: argparse.Namespace) -> Api:
    url = args.api_url or os.environ.get("ROSTERSYNC_API_URL")
    token = args.token or os.environ.get("ROSTERSYNC_TOKEN")
    if (not url or not token) and args.serve_json.is_file():
        served = json.loads(args.serve_json.read_text(encoding="utf-8"))
        url, token = url or served["api_url"], token or served["operator_token"]
    if not url or not token:
        raise CommandError(
            "no API to talk to: give --api-url and --token (an operator's ID token), set "
            f"ROSTERSYNC_API_URL and ROSTERSYNC_TOKEN, or start `rostersync serve` ({args.serve_json})"
        )
    return Api(url, token)


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(
            f"cannot open {what} file {path} ({(exc.strerror or 'unreadable').lower()})"
        ) from None
    except ValueError as exc:
        raise CommandError(f"{what} file {path} is not valid JSON ({exc})") from None


def _keys(paths: list[Path]) -> list[str]:
    keys = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CommandError(
                f"cannot open SSH key file {path} ({(exc.strerror or 'unreadable').lower()})"
            ) from None
        keys += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return keys


def _add_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "district_id": args.district_id,
        "name": args.name,
        "time_zone": args.time_zone,
        "admin_emails": args.admin,
        "school_ids": args.school,
        "pull_times": args.pull_at,
    }
    if args.holds:
        body["holds"] = _json_file(args.holds, "holds")
    if args.source:
        body["source"] = _json_file(args.source, "source")
    if args.credentials:
        body["credentials"] = _json_file(args.credentials, "credentials")
    if args.sftp_user:
        body["sftp_users"] = [{"username": args.sftp_user, "public_keys": _keys(args.ssh_key)}]
    return body


def _show(console: Console, view: dict[str, Any]) -> None:
    profile, settings = view["profile"], view["settings"]
    console.print(
        f"[bold]{profile['district_id']}[/bold] {profile['name']} ({profile['status']}), "
        f"time zone {profile['time_zone']}, source {settings['source']['kind']}"
        + (f", pulls at {', '.join(profile['pull_times'])}" if profile.get("pull_times") else "")
    )
    console.print(f"  admins: {', '.join(settings['admin_emails']) or '(none)'}")
    console.print(f"  schools: {', '.join(settings['school_ids']) or 'every school in the data'}")
    for user in view["sftp_users"]:
        console.print(f"  SFTP user {user['username']} → {user['home']} ({len(user['public_keys'])} key(s))")


def run(args: argparse.Namespace, console: Console, err: Console) -> int:
    from rich.markup import escape

    try:
        _run(args, console)
    except CommandError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        return EXIT_REFUSED
    return EXIT_DONE


def _run(args: argparse.Namespace, console: Console) -> None:
    api = _api(args)
    base = "/operator/districts"
    command: str = args.districts_command
    one = f"{base}/{getattr(args, 'district_id', '')}"
    actions: dict[str, Callable[[], None]] = {
        "list": lambda: _list(console, api.call("GET", base)),
        "show": lambda: _show(console, api.call("GET", one)),
        "add": lambda: _show(console, api.call("POST", base, _add_body(args))),
        "add-user": lambda: _user(
            console,
            api.call(
                "POST", f"{one}/sftp-users", {"username": args.username, "public_keys": _keys(args.ssh_key)}
            ),
            "added",
        ),
        "remove-user": lambda: _user(
            console, api.call("DELETE", f"{one}/sftp-users/{args.username}"), "removed"
        ),
        "deactivate": lambda: _show(console, api.call("POST", f"{one}/deactivate")),
        "pull": lambda: console.print(f"Pull started: sync {api.call('POST', f'{one}/pull')['sync_id']}"),
    }
    actions[command]()


def _list(console: Console, listing: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Districts")
    for column in ("district", "name", "status", "time zone", "pulls at"):
        table.add_column(column)
    for profile in listing["districts"]:
        table.add_row(
            profile["district_id"],
            profile["name"],
            profile["status"],
            profile["time_zone"],
            ", ".join(profile.get("pull_times") or []),
        )
    console.print(table)


def _user(console: Console, user: dict[str, Any], done: str) -> None:
    console.print(
        f"SFTP user {user['username']} {done} (district {user['district_id']}, home {user['home']})"
    )
