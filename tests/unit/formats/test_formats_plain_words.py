"""No message an admin sees (errors CSV rows or a refusal) carries library or Python text.

Every fixture set is read as is, and again with each of its files broken in each way real files
break: truncated quote, binary bytes, Latin-1 text, an empty file, a header line only (with and
without a line break), NUL bytes, a spreadsheet renamed to .csv, more values than the header.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from formats_helpers import FIXTURES

from rostersync.formats import load_roster
from rostersync.issues import InvalidFilesError

FORBIDDEN = (
    "pyarrow",
    "Traceback",
    "Errno",
    "CSV parse error",
    "ArrowInvalid",
    "Expected",
    "UnicodeDecodeError",
    "block size",
    "initial",
    "codec",
    "Error:",
)

# Every hand-made fixture set, and the public sample sets in fixtures/public/.
SETS = sorted(
    str(p.relative_to(FIXTURES))
    for p in [*FIXTURES.iterdir(), *(FIXTURES / "public").iterdir()]
    if p.is_dir() and any(p.glob("*.csv"))
)


def _header(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0]


BREAKS: dict[str, Callable[[bytes], bytes]] = {
    "truncated_quote": lambda d: d + b'X1,"never closed\n',
    "truncated_quote_last_column": lambda d: d.rstrip(b"\n") + b',"never closed\n',
    "binary": lambda d: d[: len(d) // 2] + bytes(range(256)),
    "latin1": lambda d: d.replace(b"\n", "\nRen\u00e9e,".encode("latin-1"), 2),
    "empty": lambda d: b"",
    "header_only": _header,
    "header_only_newline": lambda d: _header(d) + b"\n",
    "nul_bytes": lambda d: d.replace(b",", b",\x00", 3),
    "spreadsheet": lambda d: b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4\x00\x00\x00L\x02",
    "too_many_values": lambda d: d + b"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,aa,bb\n",
}


def _messages(directory: Path) -> list[str]:
    try:
        result = load_roster(directory)
    except InvalidFilesError as error:
        return [str(p) for p in error.problems]
    return [str(m) for m in result.issues.column("message").to_pylist()]


def _assert_plain(messages: list[str]) -> None:
    for message in messages:
        for word in FORBIDDEN:
            assert word not in message, f"{word!r} in {message!r}"


@pytest.mark.parametrize("name", SETS)
def test_fixture_messages_are_plain_words(name: str) -> None:
    _assert_plain(_messages(FIXTURES / name))


@pytest.mark.parametrize("how", sorted(BREAKS))
@pytest.mark.parametrize("name", ["oneroster11_basic", "oneroster12_basic", "clever_basic"])
def test_broken_file_messages_are_plain_words(name: str, how: str, tmp_path: Path) -> None:
    source = FIXTURES / name
    for file in sorted(source.glob("*.csv")):
        directory = tmp_path / f"{file.stem}"
        shutil.copytree(source, directory)
        target = directory / file.name
        target.write_bytes(BREAKS[how](target.read_bytes()))

        messages = _messages(directory)

        _assert_plain(messages)
