"""Bad input to upload and download: a clear error, a non-zero exit, nothing half-written."""

from __future__ import annotations

import datetime
import errno
import os

import pytest
from _transfer_cli import run
from _transfer_trees import SMALL_BLOCKS, blobs, make_tree, read_tree
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from azstoragetorch.exceptions import BlobPermissionError
from azstoragetorch.io import transfer
from azstoragetorch.io.transfer._local_files import PathFilter
from azstoragetorch.io.transfer._upload import run_upload

pytestmark = pytest.mark.azurite

# Root ignores permission bits; without these capabilities it obeys them.
_OBEY_PERMISSIONS = (
    ("setpriv", "--bounding-set", "-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
)


def test_a_local_path_that_does_not_exist(azurite, container, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        transfer.upload(missing, container.url, credential=False)
    result = run(
        "upload", str(missing), container.name, connection_string=azurite.connection_string
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert blobs(container) == {}


def test_a_directory_without_recursive(azurite, container, tmp_path):
    make_tree(tmp_path / "src")
    result = run(
        "upload", str(tmp_path / "src"), container.name, connection_string=azurite.connection_string
    )
    assert result.returncode == 2
    assert "add --recursive" in result.stderr
    assert blobs(container) == {}


def test_a_prefix_without_recursive(azurite, container, tmp_path):
    container.client.upload_blob("data/a.bin", b"a")
    result = run(
        "download",
        f"{container.name}/data",
        str(tmp_path / "dst"),
        connection_string=azurite.connection_string,
    )
    assert result.returncode == 1
    assert "names a prefix, not a blob" in result.stderr
    assert not (tmp_path / "dst").exists()


def test_downloading_a_prefix_onto_an_existing_file(azurite, container, key, tmp_path):
    container.client.upload_blob("data/a.bin", b"a")
    existing = tmp_path / "file.txt"
    existing.write_bytes(b"mine")
    with pytest.raises(NotADirectoryError, match="it is a file"):
        transfer.download(f"{container.url}/data/", existing, credential=key)
    result = run(
        "download",
        "-r",
        f"{container.name}/data/",
        str(existing),
        connection_string=azurite.connection_string,
    )
    assert result.returncode == 1
    assert "it is a file" in result.stderr
    assert existing.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_blob_names_that_are_not_safe_paths_are_refused(azurite, container, key, tmp_path):
    # Azurite stores these names as given ('.' and '..' parts never reach it: HTTP
    # clients and servers resolve them, so they are covered by the unit tests).
    for name in ("/abs.txt", "a//b.txt", "good/ok.txt"):
        container.client.upload_blob(name, b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "dst"
    target.mkdir()
    (target / "good").symlink_to(outside)  # a link already there that leads out
    container.client.upload_blob("fine.txt", b"fine")
    summary = transfer.download(container.url, target, credential=key)
    reasons = {f.source.rsplit("/", 1)[-1]: f.reason for f in summary.failed}
    assert len(summary.failed) == 3
    assert "refused" in reasons["abs.txt"]
    assert "refused" in reasons["b.txt"]
    assert "outside the target directory" in reasons["ok.txt"]
    assert list(outside.iterdir()) == []
    assert read_tree(target) == {"fine.txt": b"fine"}
    result = run(
        "download", "-r", container.name, str(target), connection_string=azurite.connection_string
    )
    assert result.returncode == 1
    assert result.stderr.count("failed:") == 3
    assert list(outside.iterdir()) == []


def test_a_local_destination_without_write_permission(azurite, container, tmp_path):
    container.client.upload_blob("data/a.bin", b"a")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = run(
            "download",
            "-r",
            f"{container.name}/data/",
            str(locked),
            connection_string=azurite.connection_string,
            prefix=_OBEY_PERMISSIONS,
        )
        single = run(
            "download",
            f"{container.name}/data/a.bin",
            str(locked / "a.bin"),
            connection_string=azurite.connection_string,
            prefix=_OBEY_PERMISSIONS,
        )
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1
    assert "No permission to write" in result.stderr
    assert single.returncode == 1
    assert "No permission to write" in single.stderr
    assert list(locked.iterdir()) == []


def test_a_remote_destination_without_write_permission(azurite, container, tmp_path):
    make_tree(tmp_path / "src")
    sas = generate_container_sas(
        azurite.account_name,
        container.name,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    url = f"{container.url}/data/?{sas}"
    with pytest.raises(BlobPermissionError) as raised:
        transfer.upload(tmp_path / "src", url)
    assert "sig=" not in str(raised.value)
    result = run("upload", "-r", str(tmp_path / "src"), url)
    assert result.returncode == 1
    assert "Not authorised" in result.stderr
    assert sas.split("sig=")[1][:10] not in result.stderr
    assert blobs(container) == {}


def test_a_symlink_loop_in_the_source_tree(azurite, container, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    (src / "cats" / "again").symlink_to(src)
    with pytest.raises(OSError, match="Symbolic link loop") as raised:
        transfer.upload(src, container.url, credential=False)
    assert raised.value.errno == errno.ELOOP
    result = run(
        "upload", "-r", str(src), container.name, connection_string=azurite.connection_string
    )
    assert result.returncode == 1
    assert "Symbolic link loop" in result.stderr
    assert "cats/again" in result.stderr
    assert blobs(container) == {}


def test_a_link_to_itself_in_the_source_tree(container, key, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    (src / "self").symlink_to(src / "self")
    with pytest.raises(OSError, match="leads back to itself"):
        transfer.upload(src, container.url, credential=key)
    assert blobs(container) == {}


def test_a_file_that_changes_while_uploaded_fails_and_commits_nothing(container, key, tmp_path):
    path = tmp_path / "growing.bin"
    make_tree(tmp_path, {"growing.bin": 300 * 1024})
    appended = []

    def append_once(bytes_done: int, *_: int) -> None:
        if bytes_done and not appended:
            with open(path, "ab") as file:
                file.write(b"more")
            appended.append(True)

    summary = run_upload(
        path,
        f"{container.url}/growing.bin",
        credential=key,
        overwrite="always",
        concurrency=1,
        content_type=None,
        keep=PathFilter(),
        dry_run=False,
        progress=append_once,
        settings=SMALL_BLOCKS,
    )
    assert appended
    assert len(summary.failed) == 1
    assert "changed while it was being uploaded" in summary.failed[0].reason
    assert blobs(container) == {}
    assert container.client.get_blob_client("growing.bin").exists() is False


def test_a_file_rewritten_in_place_while_uploaded_fails(container, key, tmp_path):
    path = tmp_path / "model.bin"
    make_tree(tmp_path, {"model.bin": 300 * 1024})
    container.client.upload_blob("model.bin", b"the good old blob")
    rewritten = []

    def rewrite_once(bytes_done: int, *_: int) -> None:
        if bytes_done and not rewritten:
            data = path.read_bytes()
            path.write_bytes(bytes(len(data)))  # same size, new content and mtime
            os.utime(path, ns=(1, 1))  # and an mtime far from the first one
            rewritten.append(True)

    summary = run_upload(
        path,
        f"{container.url}/model.bin",
        credential=key,
        overwrite="always",
        concurrency=1,
        content_type=None,
        keep=PathFilter(),
        dry_run=False,
        progress=rewrite_once,
        settings=SMALL_BLOCKS,
    )
    assert rewritten
    assert len(summary.failed) == 1
    assert blobs(container) == {"model.bin": b"the good old blob"}
