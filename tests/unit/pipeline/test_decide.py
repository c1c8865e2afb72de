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
