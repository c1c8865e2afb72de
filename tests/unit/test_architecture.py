"""The deployed package's import rules, read from the source: no import cycle, no dev-only import,
AWS and source clients only in their adapter packages, and the API never loads a connector.

The graph is built from every ``import`` statement of every module under
``layers/core/rostersync`` (also those inside functions and ``TYPE_CHECKING`` blocks), so a cycle
hidden by a deferred import is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "layers" / "core" / "rostersync"
DEV_ONLY = frozenset({"rostersync_tools", "moto", "rich", "yaml", "pytest"})
# Third-party clients of outside systems, and the only package allowed to import each.
ADAPTER_OF = {
    "boto3": "rostersync.aws",
    "botocore": "rostersync.aws",
    "requests": "rostersync.connectors",
    "requests_oauthlib": "rostersync.connectors",
    "oauthlib": "rostersync.connectors",
    "paramiko": "rostersync.connectors",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported_names(module: str) -> list[str]:
    """Every module name ``module`` imports (absolute; ``from a import b`` is ``a.b`` when that is
    a module of the package, else ``a``)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.extend(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            )
    return names


IMPORTS = {module: imported_names(module) for module in MODULES}


def test_the_package_is_found() -> None:
    assert {"rostersync", "rostersync.pipeline.dispatch", "rostersync.connectors.puller"} <= set(MODULES)


def test_no_import_cycle_in_the_package() -> None:
    graph = {module: {n for n in names if n in MODULES and n != module} for module, names in IMPORTS.items()}

    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        cycle = exc.args[1]
        pytest.fail(f"import cycle: {' -> '.join(reversed(cycle))}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_dev_only_import(module: str) -> None:
    dev = sorted(n for n in IMPORTS[module] if n.partition(".")[0] in DEV_ONLY)

    assert dev == [], f"{module} imports dev-only {dev}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_outside_systems_are_reached_only_from_their_adapter_package(module: str) -> None:
    misplaced = sorted(
        n
        for n in IMPORTS[module]
        if (adapter := ADAPTER_OF.get(n.partition(".")[0])) is not None
        and not (module == adapter or module.startswith(adapter + "."))
    )

    assert misplaced == [], f"{module} imports {misplaced} outside its adapter package"


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    program = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    return set(result.stdout.split())


def test_the_api_and_its_adapters_never_load_a_connector() -> None:
    loaded = _loaded_after(
        "import rostersync.api, rostersync.aws\nfrom rostersync.api.deps import build_api_deps"
    )

    assert sorted(m for m in loaded if m.startswith("rostersync.connectors")) == []
    assert sorted(m for m in loaded if m.partition(".")[0] in {"requests", "paramiko"}) == []


def test_building_the_lambda_deps_loads_no_source_client_library() -> None:
    loaded = _loaded_after(
        "from rostersync.aws import build_deps\n"
        "from rostersync.pipeline.config import PipelineConfig\n"
        "deps = build_deps(PipelineConfig.from_env({'RAW_BUCKET': 'raw', 'SNAPSHOT_BUCKET': 'snap',"
        " 'TABLE_NAME': 'table', 'STATE_MACHINE_ARN': 'arn:aws:states:us-east-1:1:stateMachine:s',"
        " 'SENDER_EMAIL': 'noreply@example.com'}))\n"
        "assert deps.puller is not None"
    )

    assert (
        sorted(m for m in loaded if m.partition(".")[0] in {"requests", "paramiko", "requests_oauthlib"})
        == []
    )
