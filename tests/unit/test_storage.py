"""LocalBlobStore: the file-system implementation of the BlobStore protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from rostersync.storage import BlobNotFoundError, BlobStore, InvalidKeyError, LocalBlobStore


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_local_store_implements_the_protocol(store: LocalBlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_then_get_returns_the_bytes(store: LocalBlobStore) -> None:
    store.put("d1/inbox/students.csv", b"id\n1\n")

    assert store.get("d1/inbox/students.csv") == b"id\n1\n"


def test_put_replaces_an_existing_object(store: LocalBlobStore) -> None:
    store.put("a/b", b"old")
    store.put("a/b", b"new")

    assert store.get("a/b") == b"new"


def test_get_of_an_absent_key_raises_blob_not_found(store: LocalBlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        store.get("nope/missing.json")


def test_blob_not_found_is_a_key_error(store: LocalBlobStore) -> None:
    with pytest.raises(KeyError):
        store.get("missing")


def test_exists_is_true_only_for_stored_objects(store: LocalBlobStore) -> None:
    store.put("a/b.json", b"{}")

    assert store.exists("a/b.json")
    assert not store.exists("a/c.json")
    assert not store.exists("a")  # a folder is not an object


def test_list_returns_sorted_keys_under_a_string_prefix(store: LocalBlobStore) -> None:
    for key in ("d1/v2/x", "d1/v1/y", "d1/v10.json", "d2/v1/z"):
        store.put(key, b"")

    assert store.list("d1/v1") == ["d1/v1/y", "d1/v10.json"]
    assert store.list("d1/") == ["d1/v1/y", "d1/v10.json", "d1/v2/x"]
    assert store.list("") == ["d1/v1/y", "d1/v10.json", "d1/v2/x", "d2/v1/z"]


def test_list_of_an_absent_prefix_is_empty(store: LocalBlobStore) -> None:
    assert store.list("nothing/here/") == []


def test_put_leaves_no_temporary_files(store: LocalBlobStore) -> None:
    store.put("a/b", b"1")
    store.put_if_absent("a/c", b"2")
    store.put_if_absent("a/c", b"3")

    assert sorted(p.name for p in (store.root / "a").iterdir()) == ["b", "c"]


def test_put_if_absent_creates_a_new_object(store: LocalBlobStore) -> None:
    assert store.put_if_absent("versions/000001.json", b"first") is True
    assert store.get("versions/000001.json") == b"first"


def test_put_if_absent_keeps_the_existing_object(store: LocalBlobStore) -> None:
    store.put_if_absent("versions/000001.json", b"first")

    assert store.put_if_absent("versions/000001.json", b"second") is False
    assert store.get("versions/000001.json") == b"first"


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "a/..", "/etc/passwd", "a//b", "a/./b", ""])
def test_invalid_keys_are_rejected(store: LocalBlobStore, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.put(key, b"x")


def test_list_rejects_a_parent_directory_prefix(store: LocalBlobStore) -> None:
    with pytest.raises(InvalidKeyError):
        store.list("../")


def test_rejected_key_writes_nothing_outside_the_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")

    with pytest.raises(InvalidKeyError):
        store.put("../outside.txt", b"x")

    assert not (tmp_path / "outside.txt").exists()
