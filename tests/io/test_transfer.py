"""upload, download and list against Azurite: names, checksums, overwrite rules."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

import pytest
from _fault_proxy import FaultProxy, Respond
from _transfer_trees import SMALL_BLOCKS, TREE, blobs, make_tree, read_tree

from azstoragetorch.io import transfer
from azstoragetorch.io.transfer._download import run_download
from azstoragetorch.io.transfer._local_files import PathFilter
from azstoragetorch.io.transfer._upload import run_upload

pytestmark = pytest.mark.azurite


def _upload_small_blocks(local: Path, url: str, key, **options):  # type: ignore[no-untyped-def]
    arguments = {
        "overwrite": "if-changed",
        "concurrency": 4,
        "content_type": None,
        "keep": PathFilter(),
        "dry_run": False,
        "progress": None,
        **options,
    }
    return run_upload(local, url, credential=key, settings=SMALL_BLOCKS, **arguments)


def _download_small_blocks(url: str, local: Path, key, **options):  # type: ignore[no-untyped-def]
    arguments = {
        "overwrite": "if-changed",
        "concurrency": 4,
        "keep": PathFilter(),
        "dry_run": False,
        "progress": None,
        **options,
    }
    return run_download(url, local, credential=key, settings=SMALL_BLOCKS, **arguments)


def test_a_tree_becomes_blobs_named_by_relative_posix_path(container, key, tmp_path):
    contents = make_tree(tmp_path / "src")
    summary = transfer.upload(tmp_path / "src", f"{container.url}/data", credential=key)
    assert summary.ok
    assert summary.transferred == tuple(sorted(f"data/{name}" for name in TREE))
    assert summary.bytes_transferred == sum(TREE.values())
    assert blobs(container) == {f"data/{name}": data for name, data in contents.items()}


def test_every_blob_carries_its_md5_and_a_guessed_content_type(container, key, tmp_path):
    contents = make_tree(tmp_path / "src")
    transfer.upload(tmp_path / "src", container.url, credential=key)
    for name, data in contents.items():
        settings = container.client.get_blob_client(name).get_blob_properties().content_settings
        assert settings.content_md5 == hashlib.md5(data).digest()
        expected = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        assert settings.content_type == expected


def test_the_content_type_can_be_given(container, key, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights")
    transfer.upload(
        tmp_path / "model.pt", f"{container.url}/m.pt", credential=key, content_type="x/torch"
    )
    properties = container.client.get_blob_client("m.pt").get_blob_properties()
    assert properties.content_settings.content_type == "x/torch"


def test_a_large_file_goes_up_in_blocks_with_the_whole_blob_md5(container, key, tmp_path):
    data = make_tree(tmp_path, {"big.bin": 300 * 1024 + 7})["big.bin"]
    summary = _upload_small_blocks(tmp_path / "big.bin", f"{container.url}/big.bin", key)
    assert summary.ok
    blob = container.client.get_blob_client("big.bin")
    committed, _ = blob.get_block_list("committed")
    assert len(committed) == 5  # 64 KiB blocks
    properties = blob.get_blob_properties()
    assert properties.content_settings.content_md5 == hashlib.md5(data).digest()
    assert blob.download_blob().readall() == data


def test_a_file_goes_into_a_prefix_under_its_own_name(container, key, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights")
    transfer.upload(tmp_path / "model.pt", f"{container.url}/models/", credential=key)
    assert blobs(container) == {"models/model.pt": b"weights"}


def test_include_and_exclude_select_files(container, key, tmp_path):
    make_tree(tmp_path / "src")
    summary = transfer.upload(
        tmp_path / "src",
        container.url,
        credential=key,
        include=["*.png", "*.jpg"],
        exclude=["dogs/puppies/*"],
    )
    assert summary.transferred == ("cats/0.png", "cats/1.png", "dogs/0.jpg")


def test_a_dry_run_changes_nothing(container, key, tmp_path):
    make_tree(tmp_path / "src")
    summary = transfer.upload(tmp_path / "src", container.url, credential=key, dry_run=True)
    assert summary.dry_run
    assert len(summary.transferred) == len(TREE)
    assert blobs(container) == {}
    transfer.upload(tmp_path / "src", container.url, credential=key)
    summary = transfer.download(container.url, tmp_path / "dst", credential=key, dry_run=True)
    assert len(summary.transferred) == len(TREE)
    assert not (tmp_path / "dst").exists()


def test_progress_reaches_the_totals(container, key, tmp_path):
    make_tree(tmp_path / "src")
    container.client.upload_blob("notes.txt", b"other")
    calls: list[tuple[int, int, int, int]] = []
    transfer.upload(
        tmp_path / "src", container.url, credential=key, progress=lambda *c: calls.append(c)
    )
    total = sum(TREE.values())
    assert calls[0] == (0, total, 0, len(TREE))
    assert calls[-1] == (total, total, len(TREE), len(TREE))
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)


def test_a_rerun_transfers_only_what_is_missing_or_changed(container, key, tmp_path, azurite):
    src = tmp_path / "src"
    make_tree(src)
    transfer.upload(src, container.url, credential=key)
    container.client.delete_blob("cats/1.png")  # as if the first run was interrupted
    changed = src / "dogs" / "0.jpg"
    changed.write_bytes(bytes(len(changed.read_bytes())))  # same size, new content
    summary = transfer.upload(src, container.url, credential=key)
    assert summary.transferred == ("cats/1.png", "dogs/0.jpg")
    assert len(summary.skipped) == len(TREE) - 2
    assert blobs(container)["dogs/0.jpg"] == changed.read_bytes()


def test_a_rerun_decides_files_of_every_size_alike(container, key, tmp_path, azurite):
    # Small files are recognised as unchanged before any job starts, larger ones in
    # their job: both skip the same files, with list requests only, and upload a
    # file changed in place at the same size.
    from azstoragetorch.io.transfer._upload import _SETTLE_AT_MOST

    sizes = {"small.bin": 100, "edge.bin": _SETTLE_AT_MOST, "larger.bin": _SETTLE_AT_MOST + 1}
    src = tmp_path / "src"
    make_tree(src, sizes)
    transfer.upload(src, container.url, credential=key)
    with FaultProxy(azurite.port) as proxy:
        again = transfer.upload(src, proxy.url(container.url), credential=key)
        queries = [seen.query for seen in proxy.seen]
    assert again.transferred == ()
    assert sorted(again.skipped) == sorted(sizes)
    assert all("comp=list" in query for query in queries)
    for name in sizes:
        (src / name).write_bytes(bytes(sizes[name]))  # same size, new content
    changed = transfer.upload(src, container.url, credential=key)
    assert sorted(changed.transferred) == sorted(sizes)
    assert blobs(container) == {name: bytes(size) for name, size in sizes.items()}


def test_a_rerun_with_nothing_changed_sends_only_list_requests(container, key, tmp_path, azurite):
    make_tree(tmp_path / "src")
    transfer.upload(tmp_path / "src", container.url, credential=key)
    with FaultProxy(azurite.port) as proxy:
        summary = transfer.upload(tmp_path / "src", proxy.url(container.url), credential=key)
        transfer.download(proxy.url(container.url), tmp_path / "dst", credential=key)
        proxy.seen.clear()
        again = transfer.download(proxy.url(container.url), tmp_path / "dst", credential=key)
        queries = [seen.query for seen in proxy.seen]
    assert summary.transferred == ()
    assert len(summary.skipped) == len(TREE)
    assert again.transferred == ()
    assert len(again.skipped) == len(TREE)
    assert queries
    assert all("comp=list" in query for query in queries)


def test_overwrite_never_leaves_existing_blobs_alone(container, key, tmp_path):
    make_tree(tmp_path / "src")
    container.client.upload_blob("notes.txt", b"keep me")
    summary = transfer.upload(tmp_path / "src", container.url, credential=key, overwrite="never")
    assert "notes.txt" in summary.skipped
    assert blobs(container)["notes.txt"] == b"keep me"


def test_overwrite_always_replaces_an_identical_blob(container, key, tmp_path):
    make_tree(tmp_path / "src")
    transfer.upload(tmp_path / "src", container.url, credential=key)
    summary = transfer.upload(tmp_path / "src", container.url, credential=key, overwrite="always")
    assert len(summary.transferred) == len(TREE)


def test_a_prefix_downloads_to_the_same_tree(container, key, tmp_path):
    contents = make_tree(tmp_path / "src")
    transfer.upload(tmp_path / "src", f"{container.url}/data/", credential=key)
    summary = transfer.download(f"{container.url}/data", tmp_path / "dst", credential=key)
    assert summary.ok
    assert len(summary.transferred) == len(TREE)
    assert read_tree(tmp_path / "dst") == contents


def test_a_large_blob_downloads_in_ranges_and_is_checked(container, key, tmp_path):
    data = make_tree(tmp_path, {"big.bin": 500 * 1024 + 3})["big.bin"]
    _upload_small_blocks(tmp_path / "big.bin", f"{container.url}/big.bin", key)
    summary = _download_small_blocks(f"{container.url}/big.bin", tmp_path / "out.bin", key)
    assert summary.ok
    assert (tmp_path / "out.bin").read_bytes() == data


def test_a_blob_downloads_into_a_directory_under_its_base_name(container, key, tmp_path):
    container.client.upload_blob("models/model.pt", b"weights")
    (tmp_path / "out").mkdir()
    transfer.download(f"{container.url}/models/model.pt", tmp_path / "out", credential=key)
    assert (tmp_path / "out" / "model.pt").read_bytes() == b"weights"


def test_download_overwrite_rules(container, key, tmp_path):
    container.client.upload_blob("a.txt", b"remote")
    local = tmp_path / "a.txt"
    local.write_bytes(b"local!")
    url = f"{container.url}/a.txt"
    assert transfer.download(url, local, credential=key, overwrite="never").skipped
    assert local.read_bytes() == b"local!"
    assert transfer.download(url, local, credential=key).transferred  # MD5 differs
    assert local.read_bytes() == b"remote"
    assert transfer.download(url, local, credential=key).skipped
    assert transfer.download(url, local, credential=key, overwrite="always").transferred


def test_a_blob_whose_content_does_not_match_its_md5_is_not_written(container, key, tmp_path):
    from azure.storage.blob import ContentSettings

    container.client.upload_blob("a.bin", b"good data")
    wrong = hashlib.md5(b"other data").digest()
    container.client.get_blob_client("a.bin").set_http_headers(ContentSettings(content_md5=wrong))
    summary = transfer.download(f"{container.url}/", tmp_path / "dst", credential=key)
    assert len(summary.failed) == 1
    assert "Content-MD5" in summary.failed[0].reason
    assert list((tmp_path / "dst").iterdir()) == []


def test_a_download_that_fails_midway_leaves_no_partial_file(container, key, tmp_path, azurite):
    contents = make_tree(tmp_path / "src")
    make_tree(tmp_path / "src", {"big.bin": 500 * 1024})
    _upload_small_blocks(tmp_path / "src", container.url, key)
    target = tmp_path / "dst"
    with FaultProxy(azurite.port) as proxy:
        proxy.inject(Respond(412), method="GET", path="big.bin", ranged=True, nth=4)
        summary = _download_small_blocks(proxy.url(f"{container.url}/"), target, key)
        assert proxy.faults_fired == 1
    assert len(summary.failed) == 1
    assert summary.failed[0].destination.endswith("big.bin")
    assert read_tree(target) == contents  # every other file, and no partial one
    # Run again: only the file that failed moves.
    again = _download_small_blocks(f"{container.url}/", target, key)
    assert again.transferred == (str(target / "big.bin"),)
    assert len(again.skipped) == len(TREE)
    assert (target / "big.bin").read_bytes() == (tmp_path / "src" / "big.bin").read_bytes()


def test_list_one_level_shows_folders_and_blobs(container, key, tmp_path):
    make_tree(tmp_path / "src")
    transfer.upload(tmp_path / "src", container.url, credential=key)
    entries = list(transfer.list(f"{container.url}/", delimiter="/", credential=key))
    assert [(e.name, e.is_folder) for e in entries] == [
        ("cats/", True),
        ("dogs/", True),
        ("labels.csv", False),
        ("notes.txt", False),
    ]
    notes = entries[-1]
    assert notes.size == TREE["notes.txt"]
    assert notes.etag
    assert notes.etag.startswith('"')
    assert notes.content_type == "text/plain"
    assert notes.content_md5
    assert notes.last_modified is not None
    assert notes.last_modified.tzinfo is not None
    deep = [e.name for e in transfer.list(f"{container.url}/dogs/", credential=key)]
    assert deep == ["dogs/0.jpg", "dogs/puppies/0.jpg"]
