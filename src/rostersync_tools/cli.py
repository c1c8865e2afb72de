"""``rostersync`` command line: the preflight a district admin runs before uploading.

``rostersync check DIR`` says which format a file set is, lists row errors and, against a
previous snapshot, shows the changes per entity and school and the holds the sync would trip.
``rostersync snapshot DIR OUT`` accepts a set as the baseline. Exit codes: 0 the sync would apply,
1 it would be held, 2 invalid input (the files, settings or previous snapshot cannot be read;
nothing would be applied), 3 the command could not run (an unwritable ``--out``, an internal
error), each with a one-line reason. ``rostersync serve`` runs the whole product locally
(docs/local.md); ``rostersync demo`` walks through it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from rostersync import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from rostersync.settings import DistrictSettings
    from rostersync_tools.local.districts import LocalDistrict
    from rostersync_tools.local.serve import ServeOptions

EXIT_CLEAN = 0
EXIT_HELD = 1
EXIT_INVALID = 2
EXIT_COULD_NOT_RUN = 3

# Inputs at least this large (bytes) get a progress bar on an interactive terminal.
PROGRESS_MIN_BYTES = 20 * 1024 * 1024
ISSUES_SHOWN = 20
SAMPLE_FORMATS: dict[str, tuple[Literal["clever", "oneroster"], Literal["1.1", "1.2"]]] = {
    "clever": ("clever", "1.1"),
    "oneroster11": ("oneroster", "1.1"),
    "oneroster12": ("oneroster", "1.2"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rostersync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"rostersync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="preflight a file set: format, row errors, diff and holds")
    check.add_argument("directory", type=Path, help="folder holding the CSV files")
    check.add_argument("--previous", type=Path, help="snapshot folder of the last accepted set")
    check.add_argument("--settings", type=Path, help="district settings as JSON (defaults otherwise)")
    check.add_argument("--out", type=Path, help="write snapshot/, changes.csv, errors.csv, holds.json here")

    snap = sub.add_parser("snapshot", help="accept a file set as the baseline snapshot")
    snap.add_argument("directory", type=Path, help="folder holding the CSV files")
    snap.add_argument("out", type=Path, help="snapshot folder to write")
    snap.add_argument("--settings", type=Path, help="district settings as JSON (defaults otherwise)")

    sample = sub.add_parser(
        "sample", help="write the demo's two nights (day1/ applies, day2/ is held) for a district of any size"
    )
    sample.add_argument("out", type=Path, help="folder to create day1/ and day2/ in")
    sample.add_argument("--students", type=int, default=3000, help="district size (default 3000)")
    sample.add_argument("--seed", type=int, default=1)
    sample.add_argument("--format", choices=sorted(SAMPLE_FORMATS), default="clever")

    serve = sub.add_parser(
        "serve", help="run the whole product locally: AWS APIs (moto), SFTP, the release API, an outbox"
    )
    _serve_arguments(serve)
    serve.add_argument("--sftp-password", help="the district's SFTP password (default: a new random one)")
    serve.add_argument(
        "--sftp-authorized-keys", type=Path, help="OpenSSH public keys also accepted for the SFTP user"
    )
    serve.add_argument("--function-logs", action="store_true", help="show the functions' INFO logs")
    serve.add_argument(
        "--district",
        action="append",
        default=[],
        metavar="ID[=NAME]",
        type=_district_arg,
        help="onboard another district with its own SFTP login and admin token (repeat for more)",
    )
    serve.add_argument(
        "--with-sample-sources",
        action="store_true",
        help="also run local Clever and OneRoster sources, each with a district pulled from it",
    )

    demo = sub.add_parser("demo", help="the guided scenario: two days of uploads, two holds, decisions")
    _serve_arguments(demo)
    demo.add_argument("--students", type=int, default=400, help="district size (default 400)")
    demo.add_argument("--seed", type=int, default=11)
    demo.add_argument(
        "--keep-serving", action="store_true", help="leave the product running at the end (the console URL)"
    )

    from rostersync_tools import districts_cli

    districts_cli.add_parser(sub)
    return parser


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    parser.add_argument("--api-port", type=int, default=0, help="release API port (default: a free one)")
    parser.add_argument("--sftp-port", type=int, default=0, help="SFTP port (default: a free one)")
    parser.add_argument("--aws-port", type=int, default=0, help="moto's AWS APIs port (default: a free one)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(".rostersync"), help="outbox/, host key, serve.json"
    )
    parser.add_argument(
        "--quiet-seconds", type=int, default=2, help="wait after the last upload before a set is processed"
    )


class CouldNotRunError(Exception):
    """The command cannot do its work for a reason outside the input (its message says which)."""


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    args = _parser().parse_args(argv)
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        return _run(args, console, err)
    except CouldNotRunError as exc:
        reason = str(exc)
    except OSError as exc:
        reason = _os_problem(exc)
    except Exception as exc:  # the boundary: a bug is exit 3 with one line, never "held" (1)
        reason = f"an internal error ({type(exc).__name__}: {exc}); please report it"
    from rostersync_tools.render import safe

    err.print(f"Could not run: {safe(reason)}.", soft_wrap=True)
    return EXIT_COULD_NOT_RUN


def _os_problem(exc: OSError) -> str:
    what = (exc.strerror or type(exc).__name__).lower()
    return f"{what} ({exc.filename})" if exc.filename else what


def _run(args: argparse.Namespace, console: Console, err: Console) -> int:
    from rostersync_tools.render import safe

    if args.command == "sample":
        return _sample(args, console)
    if args.command == "serve":
        return _serve(args, console, err)
    if args.command == "districts":
        from rostersync_tools import districts_cli

        return districts_cli.run(args, console, err)
    if args.command == "demo":
        from rostersync_tools.local.demo import run_demo

        return run_demo(
            _serve_options(args),
            console,
            students=args.students,
            seed=args.seed,
            keep_serving=args.keep_serving,
        )
    try:
        settings = _load_settings(args.settings)
    except (OSError, ValueError, ValidationError) as exc:
        err.print(f"[red]Cannot read settings {safe(args.settings)}:[/red]")
        for problem in _settings_problems(exc):
            err.print(f"  {safe(problem)}")
        return EXIT_INVALID
    if not args.directory.is_dir():
        err.print(f"[red]{safe(args.directory)} is not a folder.[/red]")
        return EXIT_INVALID
    if args.command == "check":
        return _check(args, settings, console, err)
    return _snapshot(args, settings, console, err)


def _load_settings(path: Path | None) -> DistrictSettings:
    from rostersync.settings import DistrictSettings

    if path is None:
        return DistrictSettings()
    return DistrictSettings.model_validate(json.loads(path.read_text(encoding="utf-8")))


def _settings_problems(exc: Exception) -> list[str]:
    """What is wrong with a settings file, field by field, without pydantic's or Python's text."""
    if isinstance(exc, ValidationError):
        return [_field_problem(e["loc"], e["input"], e["msg"]) for e in exc.errors(include_url=False)]
    if isinstance(exc, json.JSONDecodeError):
        return [f"not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg.lower()})"]
    if isinstance(exc, UnicodeDecodeError):
        return ["the file is not UTF-8 text"]
    if isinstance(exc, OSError):
        return [f"the file cannot be opened ({(exc.strerror or 'unreadable').lower()})"]
    return [str(exc)]


def _field_problem(loc: tuple[int | str, ...], value: object, message: str) -> str:
    if not loc:
        return "the file should hold one JSON object of settings, as in the README"
    reason = message.removeprefix("Value error, ").replace("Input should", "should", 1)
    return f"{'.'.join(str(part) for part in loc)} = {json.dumps(value, default=str)}: {reason}"


def _check(args: argparse.Namespace, settings: DistrictSettings, console: Console, err: Console) -> int:
    from rostersync.issues import InvalidFilesError
    from rostersync.snapshot import SnapshotError, open_local_snapshot
    from rostersync_tools import render
    from rostersync_tools.preflight import STAGES, run_preflight

    previous = None
    if args.previous is not None:
        try:
            previous = open_local_snapshot(args.previous)
        except SnapshotError as exc:
            where = render.safe(args.previous)
            err.print(f"[red]Cannot read the previous snapshot {where}:[/red] {render.safe(exc)}")
            return EXIT_INVALID
    if args.out is not None:
        _writable_folder(args.out)
    try:
        with render.stage_progress(err, STAGES, enabled=_is_big(args.directory)) as advance:
            result = run_preflight(
                args.directory, previous=previous, settings=settings, out_dir=args.out, on_stage=advance
            )
    except InvalidFilesError as exc:
        render.file_problems(console, exc)
        return EXIT_INVALID

    render.preflight_report(console, result, compared=previous is not None, issues_shown=ISSUES_SHOWN)
    return EXIT_HELD if result.holds else EXIT_CLEAN


def _writable_folder(path: Path) -> None:
    """Create ``path`` if needed and make sure a file can be written in it, before any work."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".rostersync-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CouldNotRunError(
            f"cannot write to {path} ({(exc.strerror or 'not writable').lower()})"
        ) from None


def _snapshot(args: argparse.Namespace, settings: DistrictSettings, console: Console, err: Console) -> int:
    from rostersync.formats import load_roster
    from rostersync.holds import prepare_staged
    from rostersync.issues import InvalidFilesError, concat_issues
    from rostersync.snapshot import save_local_snapshot
    from rostersync_tools import render

    try:
        loaded = load_roster(args.directory, phone_region=settings.phone_region)
    except InvalidFilesError as exc:
        render.file_problems(console, exc)
        return EXIT_INVALID
    staged, dropped = prepare_staged(loaded.roster, settings)
    save_local_snapshot(args.out, staged)
    render.issues_summary(console, concat_issues([loaded.issues, dropped]), ISSUES_SHOWN)
    render.counts(console, staged)
    console.print(
        f"Snapshot of the {render.format_name(loaded.format)} set written to {render.safe(args.out)}"
    )
    return EXIT_CLEAN


def _sample(args: argparse.Namespace, console: Console) -> int:
    """The demo's scenario at any size (synthetic/scenario.py): day 1 applies, day 2 is held at
    two schools (an end-of-term mistake and new emergency contacts)."""
    from rostersync_tools.synthetic.scenario import write_sample

    writer, version = SAMPLE_FORMATS[args.format]
    summary = write_sample(args.out, students=args.students, seed=args.seed, writer=writer, version=version)
    console.print(summary)
    return EXIT_CLEAN


def _district_arg(value: str) -> LocalDistrict:
    from rostersync_tools.local.districts import extra_district

    try:
        return extra_district(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _serve_options(args: argparse.Namespace) -> ServeOptions:
    from rostersync_tools.local.serve import ServeOptions

    return ServeOptions(
        host=args.host,
        api_port=args.api_port,
        sftp_port=args.sftp_port,
        moto_port=args.aws_port,
        workdir=args.workdir,
        quiet_seconds=args.quiet_seconds,
        sftp_password=getattr(args, "sftp_password", None),
        sftp_authorized_keys=getattr(args, "sftp_authorized_keys", None),
        function_logs=getattr(args, "function_logs", False),
        extra_districts=tuple(getattr(args, "district", [])),
        with_sample_sources=getattr(args, "with_sample_sources", False),
    )


def _serve(args: argparse.Namespace, console: Console, err: Console) -> int:
    """Run until Ctrl-C (or SIGTERM), printing where everything is and each sync's progress."""
    import signal

    from rostersync_tools.local.serve import LocalProduct, ServeError
    from rostersync_tools.render import safe

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    product = LocalProduct(_serve_options(args), log=console.print)
    try:
        with console.status("Starting the local stack (moto, state machine, API, SFTP)..."):
            endpoints = product.start()
    except ServeError as exc:
        err.print(f"[red]Cannot start:[/red] {safe(exc)}")
        product.stop()
        return EXIT_INVALID
    except OSError as exc:
        err.print(f"[red]Cannot start:[/red] {safe(_os_problem(exc))}")
        product.stop()
        return EXIT_COULD_NOT_RUN
    except KeyboardInterrupt:
        product.stop()
        return EXIT_CLEAN
    from rostersync_tools.local.demo import serve_banner

    serve_banner(console, endpoints)
    try:
        product.wait()
    except KeyboardInterrupt:
        console.print("Stopping...")
    finally:
        product.stop()
    console.print("Stopped.")
    return EXIT_CLEAN


def _is_big(directory: Path) -> bool:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file()) >= PROGRESS_MIN_BYTES


if __name__ == "__main__":
    sys.exit(main())
