"""How big each Lambda function of template.yaml is once deployed: its code plus its layers, unzipped.

Lambda refuses a function whose code and layers together exceed 250 MiB unzipped
(:data:`LIMIT_BYTES`). Each part is built here the way ``sam build`` builds it, for the runtime
the template names (Python version, ``BuildArchitecture`` / ``Architectures``), not for the
machine running this:

- a layer with ``BuildMethod: makefile``: ``make build-<LogicalId>`` with ``ARTIFACTS_DIR`` set,
  from the layer's own Makefile (layers/pyarrow: pip install, then ``prune.py``); the layer is what
  the target leaves in ``ARTIFACTS_DIR``;
- a layer with ``BuildMethod: pythonX.Y``, and a function's ``CodeUri``: the folder's files plus
  what its ``requirements.txt`` names, installed with ``pip install --target`` for CPython X.Y on
  ``manylinux_2_28``/``manylinux2014`` of the architecture, wheels only and without bytecode (SAM's
  Python builder unpacks wheels the same way).

The size of a part is the sum of its files' sizes (what the zip unpacks to), ``__pycache__``
excepted. pip and make results are cached under ``.cache/lambda-packages/`` of the repository,
keyed by what decides their content (requirements, build files, Python version, architecture);
the project's own source files are measured from the working tree each time. The first run
downloads the wheels (~100 MB, from PyPI or pip's cache).

``python -m rostersync_tools.lambda_size`` prints the table; tests/unit/test_package_sizes.py
fails when a function is over budget.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rostersync_tools.local.template import load_template

# Lambda's limit on a function's deployment package and all its layers, unzipped: 250 MiB.
LIMIT_BYTES = 250 * 1024 * 1024
MIB = 1024 * 1024
_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
_DEFAULT_ARCHITECTURE = "x86_64"


class BuildError(RuntimeError):
    """pip or make could not build a part (no network, no wheel for the runtime, a broken target)."""


@dataclass(frozen=True)
class Part:
    """A function's code or one of its layers, as the template declares it."""

    logical_id: str
    folder: Path
    build_method: str  # "makefile", or the runtime it is built for ("python3.12")
    architecture: str  # "arm64" or "x86_64"


@dataclass(frozen=True)
class FunctionSize:
    logical_id: str
    parts: tuple[tuple[str, int], ...]  # (the code's or a layer's logical id, bytes), code first

    @property
    def total(self) -> int:
        return sum(size for _, size in self.parts)


def function_parts(template: dict[str, Any], root: Path) -> dict[str, tuple[Part, ...]]:
    """Each function's code (first) and the layers it lists (Globals' first), as :class:`Part`."""
    resources = template["Resources"]
    function_globals = template.get("Globals", {}).get("Function", {})
    parts = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**function_globals, **resource["Properties"]}
        architecture = (props.get("Architectures") or [_DEFAULT_ARCHITECTURE])[0]
        code = Part(logical_id, root / props["CodeUri"], props["Runtime"], architecture)
        refs = [*function_globals.get("Layers", []), *resource["Properties"].get("Layers", [])]
        parts[logical_id] = (code, *(_layer(ref["Ref"], resources[ref["Ref"]], root) for ref in refs))
    return parts


def _layer(logical_id: str, resource: dict[str, Any], root: Path) -> Part:
    metadata = resource.get("Metadata", {})
    return Part(
        logical_id,
        root / resource["Properties"]["ContentUri"],
        metadata.get("BuildMethod", "none"),
        metadata.get("BuildArchitecture", _DEFAULT_ARCHITECTURE),
    )


def pip_platforms(architecture: str) -> list[str]:
    """pip's ``--platform`` values for a Lambda architecture (Amazon Linux 2023: glibc 2.34)."""
    machine = _MACHINES[architecture]
    return [f"manylinux_2_28_{machine}", f"manylinux2014_{machine}"]


def tree_bytes(folder: Path) -> int:
    """The unzipped size of ``folder``'s files, ``__pycache__`` left out."""
    return sum(
        path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.relative_to(folder).parts
    )


def _digest(*chunks: bytes) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(len(chunk).to_bytes(8, "big") + chunk)
    return sha.hexdigest()[:20]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")


def _cached(cache: Path, name: str, fill: Any) -> Path:
    """``cache/name``, made by ``fill(folder)`` into a fresh folder renamed into place once done."""
    final = cache / name
    if final.is_dir():
        return final
    scratch = cache / f".{name}-{uuid.uuid4().hex}"
    scratch.mkdir(parents=True)
    try:
        fill(scratch)
        scratch.rename(final)
    except OSError:
        if not final.is_dir():  # another process finished it first: theirs is as good
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def _requirements(folder: Path) -> str:
    path = folder / "requirements.txt"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _pip_installed(part: Part, python_version: str, cache: Path) -> Path | None:
    """What the part's requirements install for the runtime, or None when it names none."""
    requirements = _requirements(part.folder)
    if not requirements:
        return None
    key = _digest(requirements.encode(), python_version.encode(), part.architecture.encode())

    def fill(target: Path) -> None:
        listed = target / "requirements.txt"
        listed.write_text(requirements + "\n", encoding="utf-8")
        platforms = [arg for platform in pip_platforms(part.architecture) for arg in ("--platform", platform)]
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
        ]
        command += ["--target", str(target / "python"), "--implementation", "cp", "--python-version"]
        command += [python_version, "--only-binary=:all:", *platforms, "--requirement", str(listed)]
        _run(
            command,
            f"pip install of {part.folder}/requirements.txt for python{python_version}/{part.architecture}",
        )

    return _cached(cache, f"pip-{key}", fill) / "python"


def _made(part: Part, cache: Path) -> Path:
    """What the layer's Makefile target leaves in ARTIFACTS_DIR."""
    files = sorted(p for p in part.folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    key = _digest(
        part.logical_id.encode(),
        part.architecture.encode(),
        *(chunk for p in files for chunk in (p.relative_to(part.folder).as_posix().encode(), p.read_bytes())),
    )

    def fill(artifacts: Path) -> None:
        makefile = part.folder / "Makefile"
        command = ["make", "--no-print-directory", "-f", str(makefile), f"build-{part.logical_id}"]
        command += [f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"]
        _run(command, f"make build-{part.logical_id} ({makefile})")

    return _cached(cache, f"make-{part.logical_id}-{key}", fill)


def part_bytes(part: Part, python_version: str, cache: Path) -> int:
    """The unzipped size of one part as ``sam build`` builds it for the runtime."""
    if part.build_method == "makefile":
        return tree_bytes(_made(part, cache))
    installed = _pip_installed(part, python_version, cache)
    return tree_bytes(part.folder) + (tree_bytes(installed) if installed is not None else 0)


def measure(template_path: Path, cache: Path) -> list[FunctionSize]:
    """Every function's size, code and layers, in the template's order."""
    root = template_path.parent
    sizes: dict[Part, int] = {}
    results = []
    for logical_id, parts in function_parts(load_template(template_path), root).items():
        python_version = parts[0].build_method.removeprefix("python")
        for part in parts:
            if part not in sizes:
                sizes[part] = part_bytes(part, python_version, cache)
        named = [("code", sizes[parts[0]]), *((part.logical_id, sizes[part]) for part in parts[1:])]
        results.append(FunctionSize(logical_id, tuple(named)))
    return results


def format_table(sizes: list[FunctionSize], limit: int = LIMIT_BYTES) -> str:
    """One line per function: its total, the limit's share, and each part in MiB."""
    lines = [f"{'function':<16} {'total MiB':>9}  {'of limit':>8}  parts (MiB)"]
    for size in sizes:
        parts = ", ".join(f"{name} {value / MIB:.1f}" for name, value in size.parts)
        lines.append(f"{size.logical_id:<16} {size.total / MIB:>9.1f}  {size.total / limit:>8.0%}  {parts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m rostersync_tools.lambda_size [template.yaml]``: the table; exit 1 over the limit."""
    args = sys.argv[1:] if argv is None else argv
    template = Path(args[0] if args else "template.yaml").resolve()
    sizes = measure(template, template.parent / ".cache" / "lambda-packages")
    print(format_table(sizes))
    print(f"limit: {LIMIT_BYTES / MIB:.0f} MiB unzipped, code and layers together")
    return 1 if any(size.total > LIMIT_BYTES for size in sizes) else 0


if __name__ == "__main__":
    sys.exit(main())
