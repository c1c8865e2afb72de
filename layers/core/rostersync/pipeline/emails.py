"""The emails the pipeline sends district admins, rendered as plain text and HTML.

Bodies carry the district's and schools' names (:class:`~rostersync.pipeline.names.Names`),
counts, record IDs and hold numbers only, never a student's name or contact details: what
tripped is told once per school, each number once ("Adams Elementary (SCH0001): mass_removal
(students): 230 of 501 (45.9 %, limit 10 %)"), with a link to the console page of the sync when
the deployment sets ``CONSOLE_BASE_URL``. One decision sends one email: after a partial release
the applied email says what stays on hold until when.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rostersync.holds import hold_summary_table
from rostersync.pipeline.names import Names
from rostersync.records import HOLD_RESOLUTIONS, Hold


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _numbers(row: dict[str, object]) -> str:
    numerator, denominator = row["numerator"], row["denominator"]
    if denominator is None:
        return f"{numerator:,}" if numerator else ""
    text = f"{numerator:,} of {denominator:,}"
    if row["percent"] is not None:
        text += f" ({row['percent']:g} %"
        if row["threshold"] is not None and row["hold"] in ("mass_removal", "mass_update", "id_change"):
            text += f", limit {row['threshold']:g} %"
        text += ")"
    return text


def _html_page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif">'
        f"<h2>{html.escape(title)}</h2>{body}</body></html>"
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th align="left">{html.escape(h)}</th>' for h in headers)
    lines = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table border="1" cellpadding="4" cellspacing="0"><tr>{head}</tr>{lines}</table>'


def _school_lines(holds: list[Hold], names: Names) -> list[tuple[str, str]]:
    """One line per school: its name, then each hold as "type (entity): numbers" (numbers once;
    the message where a hold has none)."""
    by_school: dict[str, list[str]] = {}
    for row in hold_summary_table(holds):
        school_id = None if row["school"] == "District" else str(row["school"])
        entity = f" ({row['entity']})" if row["entity"] else ""
        numbers = _numbers(row)
        # A hold without numbers (a missing or unreadable file) is told by its message, which
        # names the file and what was expected.
        detail = numbers or str(row["message"] or "")
        part = f"{row['hold']}{entity}: {detail}" if detail else f"{row['hold']}{entity}"
        by_school.setdefault(names.school(school_id), []).append(part)
    return [(school, "; ".join(parts)) for school, parts in by_school.items()]


def hold_email(
    *,
    district_id: str,
    sync_id: str,
    holds: list[Hold],
    expires_at: datetime,
    applied_schools: list[str] | None = None,
    releasable: bool = True,
    names: Names | None = None,
) -> Email:
    """A sync is on hold: one line per school with what tripped and its numbers, and what to do."""
    names = names or Names(district=district_id)
    lines = _school_lines(holds, names)
    schools = sorted({h.school_id for h in holds if h.school_id is not None})
    scope = f"{len(schools)} school{'s'[: len(schools) != 1]}" if schools else "district-wide"
    subject = f"[rostersync] sync {sync_id} is on hold: {names.district} ({scope})"
    actions = [
        "Download the CSV of changes and the CSV of row errors for this sync.",
        (
            "Release the sync (all schools, or only some of them: the others stay on hold), reject it, "
            "or fix the data and retry."
            if releasable
            else "Fix the files and send the complete set again, or retry; nothing can be released."
        ),
        f"Without a decision the hold expires on {expires_at:%Y-%m-%d %H:%M} UTC and "
        + ("nothing more is applied." if applied_schools else "nothing is applied."),
    ]
    if names.link:
        actions.insert(0, f"Decide here: {names.link}")
    resolutions = [f"{kind}: {HOLD_RESOLUTIONS[kind]}" for kind in dict.fromkeys(h.type for h in holds)]
    intro = f"Sync {sync_id} of {names.district} was not applied for these schools: it tripped safety holds."
    if applied_schools:
        intro += f" Already applied: {names.schools_text(applied_schools)}."
    text_lines = [intro, ""] + [f"- {school}: {detail}" for school, detail in lines]
    text_lines += ["", "How to act:"] + [f"- {a}" for a in actions]
    text_lines += ["", "What each hold means:"] + [f"- {r}" for r in resolutions]
    text_lines += ["", f"District: {names.district} ({district_id})", f"Sync: {sync_id}"]
    body = (
        f"<p>{html.escape(intro)}</p>"
        + _table(["School", "Holds"], [[school, detail] for school, detail in lines])
        + "<h3>How to act</h3><ul>"
        + "".join(f"<li>{_linked(a, names.link)}</li>" for a in actions)
        + "</ul><h3>What each hold means</h3><ul>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in resolutions)
        + f"</ul><p>District: {html.escape(names.district)} ({html.escape(district_id)})<br>"
        + f"Sync: {html.escape(sync_id)}</p>"
    )
    return Email(subject, "\n".join(text_lines) + "\n", _html_page(subject, body))


def _linked(text: str, link: str | None) -> str:
    """``text`` escaped, with the console link made clickable."""
    escaped = html.escape(text)
    if link and link in text:
        escaped = escaped.replace(html.escape(link), f'<a href="{html.escape(link)}">{html.escape(link)}</a>')
    return escaped


def applied_email(
    *,
    district_id: str,
    sync_id: str,
    version: int | None,
    counts: dict[str, int],
    schools: list[str] | None,
    complete: bool,
    per_entity: dict[str, dict[str, int]] | None = None,
    names: Names | None = None,
    still_held: list[str] | None = None,
    hold_expires_at: datetime | None = None,
) -> Email:
    """Changes were applied (all of them, or those of the released schools). After a partial
    release this is the decision's only email: what applied, and what stays on hold until when."""
    names = names or Names(district=district_id)
    applied = "all schools" if schools is None else names.schools_text(schools)
    held = names.schools_text(still_held or [])
    until = f" until {hold_expires_at:%Y-%m-%d %H:%M} UTC" if hold_expires_at else ""
    if complete or not still_held:
        subject = f"[rostersync] {names.district}: sync {sync_id} applied"
        headline = f"{applied} applied."
    else:
        subject = f"[rostersync] {names.district}: {applied} applied; {held} still on hold"
        headline = f"{applied} applied; {held} still on hold{until}."
    version_text = f"accepted version {version}" if version is not None else "no new version (no changes)"
    intro = (
        f"{headline} Sync {sync_id} of {names.district}: {version_text}, "
        f"{counts.get('added', 0):,} added, {counts.get('removed', 0):,} removed, "
        f"{counts.get('changed', 0):,} changed."
    )
    if counts.get("id_changed"):
        intro += f" {counts['id_changed']:,} people were re-keyed (ID changes: same person, new ID)."
    rows = [
        [name, f"{c.get('added', 0):,}", f"{c.get('removed', 0):,}", f"{c.get('changed', 0):,}"]
        for name, c in sorted((per_entity or {}).items())
    ]
    text = intro + "\n"
    if rows:
        text += "\nEntity | Added | Removed | Changed\n" + "\n".join(" | ".join(r) for r in rows) + "\n"
    if names.link:
        text += f"\nSee it and decide on what is still held: {names.link}\n"
    body = f"<p>{html.escape(intro)}</p>"
    if rows:
        body += _table(["Entity", "Added", "Removed", "Changed"], rows)
    if names.link:
        body += f'<p><a href="{html.escape(names.link)}">Open the sync in the console</a></p>'
    return Email(subject, text, _html_page(subject, body))


def failed_email(*, district_id: str, sync_id: str, reason: str, names: Names | None = None) -> Email:
    """A sync failed; nothing was applied by its failed step."""
    names = names or Names(district=district_id)
    subject = f"[rostersync] {names.district}: sync {sync_id} failed"
    intro = f"Sync {sync_id} of {names.district} failed and was stopped; nothing more was applied."
    text = f"{intro}\nReason: {reason}\nSend the files again or retry the sync once the cause is fixed.\n"
    body = (
        f"<p>{html.escape(intro)}</p><p>Reason: {html.escape(reason)}</p>"
        "<p>Send the files again or retry the sync once the cause is fixed.</p>"
    )
    if names.link:
        text += f"See it: {names.link}\n"
        body += f'<p><a href="{html.escape(names.link)}">Open the sync in the console</a></p>'
    return Email(subject, text, _html_page(subject, body))


def rejected_email(
    *,
    district_id: str,
    sync_id: str,
    actor: str | None,
    applied_schools: list[str],
    names: Names | None = None,
) -> Email:
    """An admin rejected a held sync: nothing more of it is applied."""
    names = names or Names(district=district_id)
    subject = f"[rostersync] {names.district}: sync {sync_id} rejected"
    by = f" by {actor}" if actor else ""
    intro = f"Sync {sync_id} of {names.district} was rejected{by}; its held changes were not applied."
    lines = [intro]
    if applied_schools:
        lines.append(f"Schools released earlier stay applied: {names.schools_text(applied_schools)}.")
    lines.append("The district's data stays as it was; send a corrected complete set when it is ready.")
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return Email(subject, text, _html_page(subject, body))


# --- time-based emails (sent by the scheduled tick, and by finish for expired/superseded) -------


def _district(district_id: str, district_name: str | None) -> str:
    return f"{district_name} ({district_id})" if district_name else district_id


def _simple(subject: str, lines: list[str]) -> Email:
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return Email(subject, text, _html_page(subject, body))


# How many schools a pause email lists by name before "and N more".
PAUSE_SCHOOLS_LISTED = 30


def _schools_line(label: str, names: Names | None) -> list[str]:
    """``label``: the district's schools by name (those its latest accepted version has)."""
    if names is None or not names.schools:
        return []
    ordered = sorted(names.schools, key=lambda s: (names.schools[s].casefold(), s))
    listed = names.schools_text(ordered[:PAUSE_SCHOOLS_LISTED])
    more = len(ordered) - PAUSE_SCHOOLS_LISTED
    return [f"{label}: {listed}" + (f" and {more} more." if more > 0 else ".")]


def pause_starting_email(
    *,
    district_id: str,
    district_name: str | None,
    first_day: date,
    last_day: date,
    names: Names | None = None,
) -> Email:
    """The day before a pause window starts (naming the schools that pause, when known)."""
    who = _district(district_id, district_name)
    subject = f"[rostersync] {who}: syncing pauses tomorrow ({first_day:%Y-%m-%d})"
    return _simple(
        subject,
        [
            f"District {who} is paused from {first_day:%Y-%m-%d} to {last_day:%Y-%m-%d} "
            "(both days included).",
            *_schools_line("Schools paused", names),
            "Files uploaded meanwhile are kept but not processed, and scheduled pulls do not run.",
            "When the pause ends, the latest complete set received during it is processed automatically.",
        ],
    )


def pause_ending_email(
    *,
    district_id: str,
    district_name: str | None,
    last_day: date,
    waiting_files: int,
    names: Names | None = None,
) -> Email:
    """The last day of a pause window: processing resumes tomorrow."""
    who = _district(district_id, district_name)
    resume = last_day + timedelta(days=1)
    subject = f"[rostersync] {who}: syncing resumes tomorrow ({resume:%Y-%m-%d})"
    kept = (
        f"{waiting_files} file{'s'[: waiting_files != 1]} received during the pause will then be processed."
        if waiting_files
        else "No files were received during the pause; the next upload or scheduled pull is processed."
    )
    return _simple(
        subject,
        [
            f"The pause of district {who} ends after {last_day:%Y-%m-%d}.",
            *_schools_line("Schools that resume", names),
            kept,
        ],
    )


def hold_reminder_email(
    *,
    district_id: str,
    district_name: str | None,
    sync_id: str,
    held_schools: list[str],
    expires_at: datetime,
    names: Names | None = None,
) -> Email:
    """A hold is about to expire without a decision (the held schools by name, and the link)."""
    names = names or Names(district=district_name or district_id)
    who = _district(district_id, district_name)
    subject = f"[rostersync] {who}: hold on sync {sync_id} expires {expires_at:%Y-%m-%d %H:%M} UTC"
    schools = names.schools_text(held_schools) if held_schools else "district-wide"
    lines = [
        f"Sync {sync_id} of district {who} is still on hold (schools: {schools}).",
        f"Without a decision it expires on {expires_at:%Y-%m-%d %H:%M} UTC; nothing more is applied.",
        "Release it (all schools or some), reject it, or fix the data and retry.",
    ]
    if names.link:
        lines.append(f"Decide here: {names.link}")
    return _simple(subject, lines)


def hold_expired_email(
    *,
    district_id: str,
    district_name: str | None,
    sync_id: str,
    applied_schools: list[str],
    names: Names | None = None,
) -> Email:
    """A hold reached its deadline without a decision."""
    names = names or Names(district=district_name or district_id)
    who = _district(district_id, district_name)
    subject = f"[rostersync] {who}: hold on sync {sync_id} expired"
    lines = [
        f"The hold on sync {sync_id} of district {who} expired without a decision; "
        "its held changes were not applied."
    ]
    if applied_schools:
        lines.append(f"Schools released earlier stay applied: {names.schools_text(applied_schools)}.")
    lines.append("Send a corrected complete set when it is ready.")
    return _simple(subject, lines)


def hold_superseded_email(
    *,
    district_id: str,
    district_name: str | None,
    sync_id: str,
    applied_schools: list[str],
    names: Names | None = None,
) -> Email:
    """A newer upload replaced a held sync (it is evaluated afresh)."""
    names = names or Names(district=district_name or district_id)
    who = _district(district_id, district_name)
    subject = f"[rostersync] {who}: held sync {sync_id} superseded by a newer upload"
    lines = [
        f"A newer upload replaced held sync {sync_id} of district {who}; its held changes were not applied.",
        "The newer upload is evaluated afresh: a hold it trips is emailed separately.",
    ]
    if applied_schools:
        lines.insert(1, f"Schools released earlier stay applied: {names.schools_text(applied_schools)}.")
    return _simple(subject, lines)


def sync_overdue_email(
    *,
    district_id: str,
    district_name: str | None,
    last_version: int,
    hours_since: float,
    expected_hours: int,
    weekdays_only: bool,
    held_since_days: float,
    console_url: str | None = None,
) -> Email:
    """The district's newest accepted version is older than its expected cadence (sent once per
    version that goes overdue)."""
    who = _district(district_id, district_name)
    every = f"every {expected_hours} hours" + (" (weekdays only)" if weekdays_only else "")
    subject = f"[rostersync] {who}: no accepted sync for {hours_since:.0f} hours"
    lines = [
        f"The newest accepted version of district {who} (version {last_version}) is {hours_since:.0f} "
        f"hours old; a sync is expected {every}.",
        (
            f"A sync has waited on hold for {held_since_days:.1f} days: decide it in the console."
            if held_since_days > 0
            else "Check that the files are still being uploaded (or that the scheduled pulls succeed)."
        ),
        "The expected cadence is the district setting expected_sync_hours (and expected_sync_days).",
    ]
    if console_url:
        lines.append(f"Console: {console_url}")
    return _simple(subject, lines)
