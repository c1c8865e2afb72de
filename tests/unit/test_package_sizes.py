"""Every Lambda function of template.yaml, with all its layers, fits Lambda's 250 MiB unzipped limit.

The parts are built as ``sam build`` builds them for the runtime (python3.12 on arm64: the
template's own Python version and architecture), by rostersync_tools.lambda_size: the
``BuildMethod: makefile`` layers through their Makefile target, the others by pip for the
runtime's platform. Whatever layer the template attaches (a new one included) is measured. The
first run downloads the wheels (PyPI or pip's cache); later ones reuse ``.cache/lambda-packages``.

The budget keeps :data:`HEADROOM` below the limit: the requirements are ranges, and a new release
of numpy, pydantic or cryptography, or SAM's builder picking another wheel of the same release,
moves a few MiB.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rostersync_tools.lambda_size import LIMIT_BYTES, MIB, FunctionSize, format_table, measure, pip_platforms
from rostersync_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
HEADROOM = 5 * MIB
BUDGET = LIMIT_BYTES - HEADROOM


@pytest.fixture(scope="module")
def sizes() -> list[FunctionSize]:
    return measure(TEMPLATE, ROOT / ".cache" / "lambda-packages")


def test_every_function_with_its_layers_fits_the_unzipped_limit(sizes: list[FunctionSize]) -> None:
    table = format_table(sizes)
    print(f"\n{table}")  # the figures in the log of every run (pytest -s or -rA), not only on failure

    over = [size.logical_id for size in sizes if size.total > BUDGET]

    assert over == [], f"over {BUDGET / MIB:.0f} MiB (Lambda's limit less {HEADROOM // MIB} MiB):\n{table}"


def test_every_layer_the_template_attaches_is_measured(sizes: list[FunctionSize]) -> None:
    by_id = {size.logical_id: [name for name, _ in size.parts] for size in sizes}

    assert by_id["DiffFunction"][:3] == ["code", "CoreLayer", "PyArrowLayer"]
    assert by_id["ApiFunction"] == ["code", "CoreLayer", "ConsoleLayer"]
    assert all(value > 0 for size in sizes for _, value in size.parts)


def test_the_pyarrow_makefile_installs_for_the_template_runtime() -> None:
    makefile = (ROOT / "layers" / "pyarrow" / "Makefile").read_text(encoding="utf-8")
    template = load_template(TEMPLATE)
    metadata = template["Resources"]["PyArrowLayer"]["Metadata"]
    runtime = template["Globals"]["Function"]["Runtime"]

    assert metadata["BuildMethod"] == "makefile"
    assert set(re.findall(r"--platform (\S+)", makefile)) == set(pip_platforms(metadata["BuildArchitecture"]))
    assert re.findall(r"^LAMBDA_PYTHON := (\S+)$", makefile, re.MULTILINE) == [runtime.removeprefix("python")]
