"""The decide stage on moto: await_decision keeps the task token behind a hold id and emails."""

from __future__ import annotations

import json
from pathlib import Path

from rostersync.pipeline import decide
from rostersync.pipeline.events import AwaitDecisionInput
from rostersync.pipeline.ports import Deps
from tests.support.pipeline_helpers import (
    D,
    quiet_settings,
    ref,
    run_to_evaluate,
    sent_emails,
    upload_folder,
    write_district,
)


def test_await_decision_stores_the_token_behind_a_hold_id_and_emails_the_admins(
    deps: Deps, tmp_path: Path
) -> None:
    _day1, day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day2)
    _norm, _diff, ev = run_to_evaluate(deps, "s1")

    out = decide.await_decision(
        AwaitDecisionInput(
            step="await_decision",
            task_token="secret-token",
            progress=ev.progress,
            hold_timeout_seconds=60,
            **ref("s1"),
        ),
        deps,
    )

    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.status == "held" and record.hold_id
    token = deps.repo.get_token(record.hold_id)
    assert token is not None and token.task_token == "secret-token"
    assert "secret-token" not in json.dumps(record.model_dump(mode="json"))
    assert out.emailed and len(sent_emails()) == 1


def test_a_retried_await_decision_registers_its_new_token_closes_the_crashed_ones_and_emails_once(
    deps: Deps, tmp_path: Path
) -> None:
    # The state machine retries a crashed AwaitDecision with a new task token; the first attempt
    # had stored its token and marked the sync held (it died before or after its email).
    _day1, day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day2)
    _norm, _diff, ev = run_to_evaluate(deps, "s1")

    def attempt(token: str) -> None:
        decide.await_decision(
            AwaitDecisionInput(
                step="await_decision",
                task_token=token,
                progress=ev.progress,
                hold_timeout_seconds=60,
                **ref("s1"),
            ),
            deps,
        )

    attempt("first-token")
    first = deps.repo.get_sync(D, "s1")
    assert first is not None and first.hold_id
    attempt("second-token")

    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.hold_id and record.hold_id != first.hold_id
    assert record.hold_expires_at == first.hold_expires_at
    new, old = deps.repo.get_token(record.hold_id), deps.repo.get_token(first.hold_id)
    assert new is not None and (new.task_token, new.status, new.first_round) == ("second-token", "open", True)
    assert old is not None and old.status == "closed"
    assert len(sent_emails()) == 1
