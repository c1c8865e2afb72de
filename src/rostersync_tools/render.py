"""Terminal rendering of preflight results with rich: tables an admin can read at a glance.

Only the CLI and the local product import this module; the domain never prints. Every value
that comes from the files (headers, IDs, names, messages quoting them, file names) is printed
through :func:`safe`: rich would otherwise read ``[red]`` or ``[link=…]`` in a value as markup,
and crash on ``[/]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rostersync.issues import ERROR, InvalidFilesError
from rostersync.model import ENTITIES
from rostersync.records import HOLD_RESOLUTIONS, Hold
from rostersync.roster import (
    FORMAT_CLEVER_CSV,
    FORMAT_ONEROSTER_11_CSV,
    FORMAT_ONEROSTER_12_CSV,
    FORMAT_SDS_21_CSV,
    RosterSet,
)

if TYPE_CHECKING:
    from rostersync_tools.preflight import PreflightResult

FORMAT_NAMES = {
    FORMAT_CLEVER_CSV: "Clever-style CSV",
    FORMAT_ONEROSTER_11_CSV: "OneRoster 1.1 CSV",
    FORMAT_ONEROSTER_12_CSV: "OneRoster 1.2 CSV",
    FORMAT_SDS_21_CSV: "Microsoft School Data Sync v2.1 CSV",
}


def safe(value: object) -> str:
    """``value`` as rich text that prints exactly what it is: markup escaped, and control and
    other unprintable characters written as escapes (``\\n``, ``\\u202e``), so a line break
    cannot start a forged line and a bidi override cannot reorder what follows."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return escape(text)


def format_name(fmt: str) -> str:
    return safe(FORMAT_NAMES.get(fmt, fmt))


@contextmanager
def stage_progress(
    console: Console, stages: Sequence[str], *, enabled: bool
) -> Iterator[Callable[[str], None]]:
    """A progress bar over the named stages (only on a terminal and when ``enabled``)."""
    progress = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )
    task = progress.add_task("starting", total=len(stages))
    seen: list[str] = []

    def advance(name: str) -> None:
        if seen:
            progress.advance(task)
        seen.append(name)
        progress.update(task, description=name)

    with progress:
        yield advance
        progress.update(task, completed=len(stages))


def file_problems(console: Console, exc: InvalidFilesError) -> None:
    where = f" ({format_name(exc.format)})" if exc.format else ""
    console.print(f"[bold red]The file set cannot be processed{where}; nothing would be applied.[/bold red]")
    table = Table("file", "problem", show_lines=False)
    for problem in exc.problems:
        table.add_row(safe(problem.file), safe(problem.message))
    console.print(table)


def issues_summary(console: Console, issues: pa.Table, shown: int) -> None:
    if issues.num_rows == 0:
        console.print("[green]No row errors or alerts.[/green]")
        return
    errors = int(pc.sum(pc.equal(issues.column("severity"), ERROR)).as_py() or 0)
    alerts = issues.num_rows - errors
    console.print(
        f"[bold]{errors} row error(s)[/bold] (rows left out, their records kept as they were) and "
        f"[bold]{alerts} alert(s)[/bold] (rows kept)."
    )
    table = Table("severity", "file", "row", "column", "value", "message")
    for row in issues.slice(0, shown).to_pylist():
        style = "red" if row["severity"] == ERROR else "yellow"
        table.add_row(
            f"[{style}]{safe(row['severity'])}[/{style}]",
            safe(row["file"] or ""),
            "" if row["row"] is None else str(row["row"]),
            safe(row["column"] or ""),
            safe(row["value"] or ""),
            safe(row["message"] or ""),
        )
    console.print(table)
    if issues.num_rows > shown:
        console.print(f"... and {issues.num_rows - shown} more (see errors.csv).")


def counts(console: Console, roster: RosterSet) -> None:
    table = Table("entity", "records", title="Records in the set")
    for entity in ENTITIES:
        note = " (not supplied)" if entity.name in roster.missing else ""
        table.add_row(entity.name, f"{roster.table(entity.name).num_rows:,}{note}")
    console.print(table)


def school_names(roster: RosterSet) -> dict[str, str]:
    """School ID -> "Name (ID)" for the schools of ``roster`` that have a name."""
    schools = roster.table("schools")
    return {
        school_id: f"{name} ({school_id})"
        for school_id, name in zip(
            schools.column("school_id").to_pylist(), schools.column("name").to_pylist(), strict=True
        )
        if name
    }


def _school(school_id: str | None, names: Mapping[str, str]) -> str:
    if school_id is None:
        return "(district)"
    return safe(names.get(school_id, school_id))


def diff_table(console: Console, summary: pa.Table, names: Mapping[str, str] | None = None) -> None:
    """Per entity and school: baseline, staged, added, removed, changed, re-keyed (only rows with
    changes)."""
    moved = pc.add(pc.add(summary.column("added"), summary.column("removed")), summary.column("changed"))
    changed = summary.filter(pc.greater(pc.add(moved, summary.column("id_changed")), 0))
    if changed.num_rows == 0:
        console.print("[green]No changes against the previous snapshot.[/green]")
        return
    columns = ("entity", "school", "before", "after", "added", "removed", "changed", "re-keyed")
    table = Table(*columns, title="Changes by entity and school")
    for row in changed.sort_by([("entity", "ascending"), ("school_id", "ascending")]).to_pylist():
        table.add_row(
            safe(row["entity"]),
            _school(row["school_id"], names or {}),
            f"{row['baseline']:,}",
            f"{row['staged']:,}",
            f"[green]+{row['added']:,}[/green]",
            f"[red]-{row['removed']:,}[/red]",
            f"[yellow]~{row['changed']:,}[/yellow]",
            f"{row['id_changed']:,}",
        )
    console.print(table)


def holds_table(console: Console, holds: Sequence[Hold], names: Mapping[str, str] | None = None) -> None:
    if not holds:
        console.print("[bold green]No holds: this sync would be applied.[/bold green]")
        return
    console.print(f"[bold red]{len(holds)} hold(s): this sync would wait for an admin's decision.[/bold red]")
    table = Table("hold", "school", "what tripped")
    for hold in holds:
        table.add_row(safe(hold.type), _school(hold.school_id, names or {}), safe(hold.message))
    console.print(table)
    console.print("What to do:")
    for hold_type in dict.fromkeys(h.type for h in holds):
        console.print(f"  [bold]{safe(hold_type)}[/bold]: {safe(HOLD_RESOLUTIONS.get(hold_type, ''))}")


def preflight_report(console: Console, result: PreflightResult, *, compared: bool, issues_shown: int) -> None:
    console.print(f"Format: [bold]{format_name(result.format)}[/bold]")
    names = school_names(result.staged)
    files = Table("entity", "file", "records")
    for entity in ENTITIES:
        source = result.files.get(entity.name)
        if source is None and entity.name in result.staged.missing:
            source = "(not supplied)"
        files.add_row(entity.name, safe(source or ""), f"{result.staged.table(entity.name).num_rows:,}")
    console.print(files)
    issues_summary(console, result.issues, issues_shown)
    if compared:
        diff_table(console, result.summary, names)
        if result.changes.id_changes.num_rows:
            console.print(
                f"[yellow]{result.changes.id_changes.num_rows} suspected source-ID change(s)[/yellow] "
                "(a removed and an added person with the same email or name and birth date)."
            )
    else:
        console.print("No previous snapshot given (--previous): every record counts as new.")
    holds_table(console, result.holds, names)
    if result.outputs:
        console.print("Files written:")
    for name, path in result.outputs.items():
        console.print(f"  {name}: {safe(path)}")
