"""Remove from an installed pyarrow layer what the rostersync functions never load.

``python prune.py DIR`` (DIR: the layer's ``python/`` folder after ``pip install --target``) deletes,
and lists with their sizes:

- Arrow components the functions do not use: Flight (``libarrow_flight``, the Python bindings'
  ``libarrow_python_flight`` and ``_flight``), the S3 filesystem (``libarrow_s3``, ``_s3fs``:
  rostersync reads and writes S3 through boto3, never ``pyarrow.fs``), the Substrait bindings
  (``_substrait``; ``libarrow_substrait`` itself stays, every pyarrow extension names it as
  NEEDED), ORC, the Azure, GCS and HDFS filesystems, Gandiva and pyarrow's C++ test module. Their
  Python wrappers import these with ``try``/``except ImportError``, so ``pyarrow.fs``,
  ``pyarrow.dataset`` and ``pyarrow.parquet`` import as before and only name the missing parts
  when asked for them.
- The second and third copy of each bundled library: a wheel cannot hold symlinks, so
  ``libarrow_python.so``, ``libarrow_python.so.2600`` and ``libarrow_python.so.2600.1.0`` are three
  full files. The loader only ever opens the SONAME (``libX.so.<major>``, the name every NEEDED
  entry uses); the unversioned and the full-version names are for C++ builds that link against
  pyarrow, so they go when the SONAME copy is there.
- Build and test material: C/C++ headers and sources, Cython sources (``*.pxd``, ``*.pyx``,
  ``*.pxi``), pyarrow's and numpy's test suites and ``conftest.py`` files, console scripts
  (``bin/``) and ``__pycache__`` (written by the build machine's Python, useless on the
  runtime's).

The same script runs in the SAM build (layers/pyarrow/Makefile) and in tests/unit/test_packages.py,
which imports every handler and runs Parquet, CSV, JSON, compute and join code against the
pruned layer. Standard library only: it runs with whatever Python ``sam build`` finds.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

# File names (fnmatch patterns, matched anywhere in the layer) of components nothing loads.
UNUSED_FILES = (
    "libarrow_flight.so*",
    "libarrow_python_flight.so*",
    "_flight.*.so",
    "libarrow_s3.so*",
    "_s3fs.*.so",
    "_substrait.*.so",
    "_orc.*.so",
    "_dataset_orc.*.so",
    "_azurefs.*.so",
    "_gcsfs.*.so",
    "_hdfs.*.so",
    "gandiva.*.so",
    "libgandiva.so*",
    "_pyarrow_cpp_tests.*.so",
    "conftest.py",
    "*.pxd",
    "*.pyx",
    "*.pxi",
    "*.h",
    "*.hpp",
    "*.cc",
    "*.cpp",
)
# Folders removed whole, as paths inside the layer.
UNUSED_DIRS = (
    "bin",
    "pyarrow/include",
    "pyarrow/includes",
    "pyarrow/src",
    "pyarrow/tests",
    "numpy/_core/include",
)
# Folders of these names are removed wherever they are under these packages.
TEST_DIRS = ("tests",)
TEST_DIR_PACKAGES = ("pyarrow", "numpy")

# libX.so or libX.so.<major>.<minor>.<patch>: another name for libX.so.<major>, the SONAME.
_ALIAS = re.compile(r"^(?P<stem>lib[\w.-]+?\.so)(?:\.(?P<major>\d+)\.\d+\.\d+)?$")


def _alias_of_soname(path: Path) -> bool:
    """Whether ``path`` is a duplicate name of a bundled library whose SONAME copy is beside it."""
    match = _ALIAS.match(path.name)
    if match is None:
        return False
    if match["major"] is not None:
        return (path.parent / f"{match['stem']}.{match['major']}").is_file()
    return any(
        sibling.name != path.name and re.fullmatch(re.escape(path.name) + r"\.\d+", sibling.name)
        for sibling in path.parent.glob(f"{path.name}.*")
    )


def _doomed(root: Path) -> list[Path]:
    """What to delete under ``root``: folders first (whole), then files outside them."""
    folders = {root / name for name in UNUSED_DIRS if (root / name).is_dir()}
    for package in TEST_DIR_PACKAGES:
        for name in TEST_DIRS:
            folders.update(p for p in (root / package).rglob(name) if p.is_dir())
    folders.update(p for p in root.rglob("__pycache__") if p.is_dir())
    files = {p for pattern in UNUSED_FILES for p in root.rglob(pattern) if p.is_file()}
    files.update(p for p in root.rglob("lib*.so*") if p.is_file() and _alias_of_soname(p))
    outermost = sorted(f for f in folders if not any(other in f.parents for other in folders))
    return outermost + sorted(f for f in files if not any(folder in f.parents for folder in outermost))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prune(root: Path) -> dict[str, int]:
    """Delete what the functions never load from the layer at ``root``; bytes freed per path."""
    if not (root / "pyarrow").is_dir():
        raise SystemExit(f"{root} holds no pyarrow package: give the layer's python/ folder")
    freed = {}
    for path in _doomed(root):
        freed[path.relative_to(root).as_posix()] = _size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return freed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python prune.py LAYER_PYTHON_DIR", file=sys.stderr)
        return 2
    freed = prune(Path(argv[0]))
    for name, size in sorted(freed.items(), key=lambda item: -item[1]):
        if size >= 1_000_000:
            print(f"{size / 1e6:8.1f} MB  {name}")
    print(f"{sum(freed.values()) / 1e6:8.1f} MB removed in {len(freed)} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
