"""``make demo``'s scenario (``rostersync demo``) runs to the end and shows the two holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_the_demo_exits_0_with_both_holds_and_the_final_status(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}

    result = subprocess.run(
        [sys.executable, "-m", "rostersync_tools.cli", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    output = re.sub(r"\s+", " ", result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Hold summary: SCH0001: mass_removal; SCH0002: emergency_contacts" in output
    assert "Accepted snapshot versions" in output
    assert "Demo finished" in output
    assert any("is-on-hold" in p.name for p in (tmp_path / "outbox").glob("*.eml"))
