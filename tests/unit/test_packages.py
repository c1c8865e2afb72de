"""Each Lambda function's deployable package, built the way ``sam build`` builds it.

For every ``AWS::Serverless::Function`` of template.yaml the package is its ``CodeUri`` folder (the
task root, ``/var/task``) plus the ``ContentUri`` folder of each layer it lists (``/opt/python``);
each layer's ``requirements.txt`` names the third-party distributions SAM installs into it, and
boto3/botocore come with the Lambda runtime. The tests assert that nothing dev-only ships (the
``rostersync_tools`` package, a module importing moto, rich, yaml or pytest) and that each
handler imports from its package alone: in a subprocess started with ``-I -S`` (no site-packages,
no environment), whose ``sys.path`` is the built folders and the standard library, and whose
meta-path blocker lets the venv's site-packages answer only for the top-level modules of the
distributions that function's layers name (with their transitive dependencies, read from
``importlib.metadata``) and of boto3's. A function without the connectors layer therefore cannot
import requests or paramiko, exactly as in Lambda.

A layer built by its own Makefile (``BuildMethod: makefile``: the pyarrow layer, which its
``prune.py`` slims) is laid out as that build leaves it: the venv's installed files of the
distributions its requirements name (hard links), pruned by the same ``prune.py``, with none of
the folder's own build files. Each function with that layer imports its handler and pyarrow's
modules from the pruned copy and runs Parquet, CSV, JSON, compute, join and group-by code on it,
so a prune rule that removes something the functions load fails here.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# What the Lambda Python runtime provides besides the standard library.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore")
# Top-level modules only the tests, the CLI and the local product use; none may ship.
DEV_ONLY = {
    "rostersync_tools",
    "moto",
    "rich",
    "yaml",
    "pytest",
    "hypothesis",
    "schemathesis",
    "cfnlint",
    "samtranslator",
    "psutil",
}
CONNECTOR_MODULES = ("requests", "requests_oauthlib", "oauthlib", "paramiko")
# Imported lazily by the fetch step (rostersync.pipeline.pull, through rostersync.connectors.puller),
# so ``import app`` alone would not prove the ingest function can pull.
FETCH_MODULES = (
    "rostersync.connectors.clever",
    "rostersync.connectors.oneroster",
    "rostersync.connectors.sftp",
)


def load_template() -> dict[str, Any]:
    """template.yaml as a dict: the one place this module reads it."""
    from rostersync_tools.local.template import load_template as load

    return load(TEMPLATE)


@dataclass(frozen=True, eq=False)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    layers: tuple[Path, ...]  # each layer's ContentUri folder, in the template's order
    environment: dict[str, str]


def _stand_in(name: str, value: Any, parameters: dict[str, Any]) -> str:
    """An environment value as Lambda would see it: literals as they are, the rest made up."""
    if isinstance(value, str | int | float):
        return str(value)
    ref = value.get("Ref") if isinstance(value, dict) else None
    if isinstance(ref, str) and "Default" in parameters.get(ref, {}):
        return str(parameters[ref]["Default"])
    if name.endswith("_ARN"):
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:stand-in-{name.lower()}"
    if name.endswith("_EMAIL"):
        return "rosters@example.org"
    return f"stand-in-{name.lower().replace('_', '-')}"


def _functions() -> list[Function]:
    template = load_template()
    resources = template["Resources"]
    parameters = template.get("Parameters", {})
    function_globals = template.get("Globals", {}).get("Function", {})
    global_env = function_globals.get("Environment", {}).get("Variables", {})
    functions = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        layer_refs = [*function_globals.get("Layers", []), *props.get("Layers", [])]
        variables = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        functions.append(
            Function(
                logical_id=logical_id,
                code_uri=ROOT / props["CodeUri"],
                handler=props["Handler"],
                layers=tuple(ROOT / resources[ref["Ref"]]["Properties"]["ContentUri"] for ref in layer_refs),
                environment={name: _stand_in(name, value, parameters) for name, value in variables.items()},
            )
        )
    return functions


FUNCTIONS = _functions()


def _makefile_layers() -> frozenset[Path]:
    """The ContentUri folders of the layers SAM builds with their own Makefile."""
    resources = load_template()["Resources"]
    return frozenset(
        ROOT / resource["Properties"]["ContentUri"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
        and resource.get("Metadata", {}).get("BuildMethod") == "makefile"
    )


MAKEFILE_LAYERS = _makefile_layers()
PYARROW_LAYER = ROOT / "layers" / "pyarrow"


def _ids(functions: list[Function]) -> list[str]:
    return [function.logical_id for function in functions]


# ---------------------------------------------------------------------------------------- build
@dataclass(frozen=True, eq=False)
class Package:
    function: Function
    task_root: Path  # /var/task
    opt_python: Path  # /opt/python: every layer's folder, merged in layer order

    @property
    def roots(self) -> tuple[Path, Path]:
        return (self.task_root, self.opt_python)


_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _link(source: str | Path, target: str | Path) -> None:
    """A hard link (a copy across file systems): the layer's 100+ MB are not copied per function."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _link_tree(source: Path, into: Path) -> None:
    shutil.copytree(source, into, ignore=_IGNORE, copy_function=_link, dirs_exist_ok=True)


def build_makefile_layer(layer: Path, into: Path) -> Path:
    """A Makefile-built layer's ``python/`` folder from the venv's copies of its distributions.

    The files each distribution installed (its RECORD) are linked in, then the layer's own
    ``prune.py``, when it has one, runs on the result in a subprocess, as its Makefile runs it.
    """
    site_packages = Path(sysconfig.get_paths()["platlib"])
    for name in sorted(_closure(_requirements(layer))):
        for file in metadata.distribution(name).files or []:
            source = Path(str(file.locate()))
            if ".." in file.parts or "__pycache__" in file.parts or not source.is_file():
                continue
            target = into / source.relative_to(site_packages)
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(source, target)
    into.mkdir(parents=True, exist_ok=True)
    if not (layer / "prune.py").is_file():
        return into
    pruned = subprocess.run(
        [sys.executable, str(layer / "prune.py"), str(into)], capture_output=True, text=True, check=False
    )
    assert pruned.returncode == 0, f"{layer / 'prune.py'} failed:\n{pruned.stderr}"
    return into


def build(function: Function, into: Path, built_layers: dict[Path, Path] | None = None) -> Package:
    """The function's package as ``sam build`` lays it out (without the pip installs).

    ``built_layers`` maps a Makefile-built layer's folder to its built ``python/`` folder, which
    replaces the folder itself (whose Makefile and scripts are not part of the layer).
    """
    task_root, opt_python = into / "task", into / "opt" / "python"
    shutil.copytree(function.code_uri, task_root, ignore=_IGNORE)
    opt_python.mkdir(parents=True)
    for layer in function.layers:
        if built_layers is not None and layer in built_layers:
            _link_tree(built_layers[layer], opt_python)
        else:
            shutil.copytree(layer, opt_python, ignore=_IGNORE, dirs_exist_ok=True)
    return Package(function, task_root, opt_python)


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    root = tmp_path_factory.mktemp("packages")
    built = {layer: build_makefile_layer(layer, root / "layers" / layer.name) for layer in MAKEFILE_LAYERS}
    return {f.logical_id: build(f, root / f.logical_id, built) for f in FUNCTIONS}


# ------------------------------------------------------------------------------ dependencies
def _requirements(folder: Path) -> list[Requirement]:
    path = folder / "requirements.txt"
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line]


def _closure(roots: list[Requirement]) -> set[str]:
    """The installed distributions ``roots`` need, transitively (extras and markers honoured)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(req.name, frozenset(req.extras)) for req in roots]
    while pending:
        name, extras = pending.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        for line in metadata.requires(name) or []:
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras or {""}):
                pending.append((child.name, frozenset(child.extras)))
    return {name for name, _ in seen}


def _top_level_modules(distribution: str) -> set[str]:
    files = metadata.distribution(distribution).files or []
    names = set()
    for file in files:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".egg-info", ".data", ".pth")):
            continue
        if len(file.parts) > 1:
            names.add(first)
        elif first.endswith(".py"):
            names.add(first.removesuffix(".py"))
        elif first.endswith((".so", ".pyd")):
            names.add(first.split(".", 1)[0])
    return names


@cache
def allowed_modules(function: Function) -> frozenset[str]:
    """Top-level modules the function may import from the venv: its layers' distributions, boto3's."""
    requirements = [req for folder in (function.code_uri, *function.layers) for req in _requirements(folder)]
    requirements += [Requirement(name) for name in RUNTIME_DISTRIBUTIONS]
    return frozenset(name for dist in _closure(requirements) for name in _top_level_modules(dist))


@cache
def third_party_modules() -> frozenset[str]:
    """Top-level modules of the distributions the Makefile-built layers install (not our code)."""
    distributions = {dist for layer in MAKEFILE_LAYERS for dist in _closure(_requirements(layer))}
    return frozenset(name for dist in distributions for name in _top_level_modules(dist))


# -------------------------------------------------------------------------------- sandbox
# Runs under ``python -I -S``: sys.path holds the standard library only until the probe adds the
# package's folders, then the venv's site-packages behind the blocker.
_PROBE = r"""
import importlib, importlib.abc, importlib.machinery, json, os, sys, traceback

config = json.loads(sys.argv[1])
roots, allowed = config["roots"], set(config["allowed"])
stdlib_path = list(sys.path)  # under -I -S: the standard library's folders only


def in_stdlib(name):
    return name in sys.builtin_module_names or importlib.machinery.PathFinder.find_spec(name, stdlib_path)


def in_package(name):
    return any(
        os.path.isdir(os.path.join(root, name)) or os.path.isfile(os.path.join(root, name + ".py"))
        for root in roots
    )


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if path is not None or top in allowed or in_package(top) or in_stdlib(top):
            return None
        raise ModuleNotFoundError(f"No module named {top!r} in this function's package", name=top)


sys.meta_path.insert(0, Blocker())
sys.path[:0] = roots
sys.path.extend(config["site_packages"])
results = {}
for module in config["modules"]:
    try:
        loaded = importlib.import_module(module)
    except BaseException as exc:
        results[module] = {"ok": False, "error": "".join(traceback.format_exception_only(exc)).strip()}
    else:
        results[module] = {"ok": True, "file": getattr(loaded, "__file__", None)}
if config.get("run"):
    scope = {}
    try:
        exec(config["run"], scope)
    except BaseException as exc:
        results["run"] = {"ok": False, "error": "".join(traceback.format_exception(exc))}
    else:
        results["run"] = {"ok": True, "value": scope.get("result")}
print(json.dumps(results))
"""


def _site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


def probe(package: Package, modules: tuple[str, ...], run: str = "") -> dict[str, dict[str, Any]]:
    """Import ``modules`` in order inside the function's sandbox; what each import gave.

    ``run``: code executed there afterwards; its ``result`` variable comes back under ``"run"``.
    """
    config = {
        "roots": [str(root) for root in package.roots],
        "allowed": sorted(allowed_modules(package.function)),
        "site_packages": _site_packages(),
        "modules": list(modules),
        "run": run,
    }
    env = {
        **package.function.environment,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": package.function.logical_id,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, json.dumps(config)],
        cwd=package.task_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the probe of {package.function.logical_id} crashed:\n{done.stderr}"
    results: dict[str, dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return results


@cache
def probed(package: Package) -> dict[str, dict[str, Any]]:
    """One sandbox per function: its handler first, then the modules the tests ask about."""
    handler = _handler_module(package.function)
    return probe(package, (handler, "rostersync", *CONNECTOR_MODULES, *FETCH_MODULES))


def _handler_module(function: Function) -> str:
    return function.handler.rpartition(".")[0]


# ---------------------------------------------------------------------------------- the tests
def test_every_function_is_found_with_its_layers() -> None:
    by_id = {f.logical_id: f for f in FUNCTIONS}

    assert set(by_id) >= {"IngestFunction", "DiffFunction", "HoldsFunction", "ApiFunction"}
    assert all(f.layers and f.layers[0] == ROOT / "layers" / "core" for f in FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS, ids=_ids(FUNCTIONS))
def test_a_package_carries_no_dev_only_code(function: Function, packages: dict[str, Package]) -> None:
    package = packages[function.logical_id]
    offenders = []
    for root in package.roots:
        offenders += [str(p.relative_to(root)) for p in root.rglob("*") if p.name in DEV_ONLY]
        for path in root.rglob("*.py"):
            if path.relative_to(root).parts[0] in third_party_modules():
                continue  # numpy.testing imports pytest inside its functions: never at run time
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [
                    f"{path.relative_to(root)}:{node.lineno} imports {name}"
                    for name in names
                    if name.partition(".")[0] in DEV_ONLY
                ]

    assert offenders == []


@pytest.mark.parametrize("function", FUNCTIONS, ids=_ids(FUNCTIONS))
def test_the_handler_imports_from_its_package_alone(function: Function, packages: dict[str, Package]) -> None:
    package = packages[function.logical_id]
    module = _handler_module(function)

    result = probed(package)[module]

    assert result["ok"], f"{function.logical_id}: {result['error']}"
    assert Path(result["file"]).is_relative_to(package.task_root)


@pytest.mark.parametrize("function", FUNCTIONS, ids=_ids(FUNCTIONS))
def test_rostersync_is_imported_from_the_layer(function: Function, packages: dict[str, Package]) -> None:
    package = packages[function.logical_id]

    result = probed(package)["rostersync"]

    assert result["ok"] and Path(result["file"]).is_relative_to(package.opt_python)


def test_the_api_function_cannot_import_the_connector_libraries(packages: dict[str, Package]) -> None:
    package = packages["ApiFunction"]

    results = probed(package)

    assert {module: results[module]["ok"] for module in CONNECTOR_MODULES} == dict.fromkeys(
        CONNECTOR_MODULES, False
    )
    assert "in this function's package" in results["requests"]["error"]


@pytest.mark.parametrize("logical_id", [f.logical_id for f in FUNCTIONS if f.logical_id != "IngestFunction"])
def test_only_the_ingest_function_carries_the_connectors_layer(logical_id: str) -> None:
    function = next(f for f in FUNCTIONS if f.logical_id == logical_id)

    assert ROOT / "layers" / "connectors" not in function.layers
    assert not {"requests", "paramiko"} & allowed_modules(function)


def test_the_ingest_function_imports_what_the_fetch_step_loads(packages: dict[str, Package]) -> None:
    package = packages["IngestFunction"]

    results = probed(package)

    assert {module: results[module].get("error") for module in FETCH_MODULES} == dict.fromkeys(FETCH_MODULES)


# -------------------------------------------------------------------------- the console layer
CONSOLE_LAYER = ROOT / "layers" / "console"


@pytest.mark.parametrize("logical_id", [f.logical_id for f in FUNCTIONS if f.logical_id != "ApiFunction"])
def test_only_the_api_function_carries_the_console_layer(logical_id: str) -> None:
    function = next(f for f in FUNCTIONS if f.logical_id == logical_id)

    assert CONSOLE_LAYER not in function.layers
    assert not {"jinja2", "jwt"} & allowed_modules(function)


def test_the_api_function_verifies_rs256_console_sessions(packages: dict[str, Package]) -> None:
    package = packages["ApiFunction"]
    modules = ("rostersync.console", "rostersync.console.signin")

    results = probe(package, modules, run="import jwt.algorithms as a\nresult = a.has_crypto")

    assert {module: results[module].get("error") for module in modules} == dict.fromkeys(modules)
    assert results["run"] == {"ok": True, "value": True}


# ------------------------------------------------------------------- the pruned pyarrow layer
PYARROW_FUNCTIONS = [f for f in FUNCTIONS if PYARROW_LAYER in f.layers]
# The pyarrow modules the core imports, and those pyarrow.parquet and joins load underneath.
PYARROW_MODULES = (
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.csv",
    "pyarrow.json",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "pyarrow.acero",
    "pyarrow.fs",
)
# What the functions do with pyarrow, on a few rows: read CSV and JSON lines, compute, join and
# group (Acero), write and read Parquet with zstd (snapshots, change sets), write CSV (reports).
PYARROW_WORK = """
import io
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

people = pacsv.read_csv(io.BytesIO(b"id,name\\n1,Ann\\n2,Bo\\n3,Cy\\n"))
grades = pajson.read_json(io.BytesIO(b'{"id": 2, "grade": "05"}\\n{"id": 3, "grade": "07"}\\n'))
joined = people.join(grades, keys="id", join_type="inner").sort_by("id")
counts = joined.group_by("grade").aggregate([([], "count_all")]).sort_by("grade")
sink = pa.BufferOutputStream()
pq.write_table(joined.append_column("upper", pc.utf8_upper(joined["name"])), sink, compression="zstd")
back = pq.read_table(pa.BufferReader(sink.getvalue()))
report = pa.BufferOutputStream()
pacsv.write_csv(counts, report)
result = {
    "rows": back.to_pylist(),
    "csv": report.getvalue().to_pybytes().decode(),
    "pyarrow": pa.__file__,
}
"""


@pytest.mark.parametrize("function", PYARROW_FUNCTIONS, ids=_ids(PYARROW_FUNCTIONS))
def test_pyarrow_is_imported_from_the_pruned_layer(function: Function, packages: dict[str, Package]) -> None:
    package = packages[function.logical_id]

    results = probe(package, (_handler_module(function), *PYARROW_MODULES))

    assert {module: results[module].get("error") for module in PYARROW_MODULES} == dict.fromkeys(
        PYARROW_MODULES
    )
    assert Path(results["pyarrow"]["file"]).is_relative_to(package.opt_python)
    assert not list(package.opt_python.glob("pyarrow/libarrow_flight.so*"))


def test_the_pruned_pyarrow_layer_reads_joins_and_writes(packages: dict[str, Package]) -> None:
    package = packages[PYARROW_FUNCTIONS[0].logical_id]

    result = probe(package, ("pyarrow",), run=PYARROW_WORK)["run"]

    assert result["ok"], result.get("error")
    assert result["value"]["rows"] == [
        {"id": 2, "name": "Bo", "grade": "05", "upper": "BO"},
        {"id": 3, "name": "Cy", "grade": "07", "upper": "CY"},
    ]
    assert result["value"]["csv"] == '"grade","count_all"\n"05",1\n"07",1\n'
    assert Path(result["value"]["pyarrow"]).is_relative_to(package.opt_python)
