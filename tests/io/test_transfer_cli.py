"""The azstoragetorch console script, run for real against Azurite."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

import pytest
from _transfer_cli import run, script
from _transfer_trees import TREE, blobs, make_tree, read_tree

pytestmark = pytest.mark.azurite


@pytest.mark.parametrize("command", ["upload", "download", "ls"])
def test_help_shows_an_example_of_each_command(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "example:" in result.stdout
    assert f"azstoragetorch {command} " in result.stdout
    assert "AZURE_STORAGE_CONNECTION_STRING" in result.stdout


def test_upload_ls_download_round_trip_with_a_connection_string(azurite, container, tmp_path):
    contents = make_tree(tmp_path / "src")
    conn = azurite.connection_string
    target = f"{container.name}/data"
    up = run("upload", "--recursive", str(tmp_path / "src"), target, connection_string=conn)
    assert up.returncode == 0, up.stderr
    assert f"Uploaded {len(TREE)} files" in up.stderr
    assert "%|" not in up.stderr  # no progress bar when stderr is a pipe
    listing = run("ls", f"{target}/", connection_string=conn)
    assert listing.returncode == 0, listing.stderr
    names = [line.split()[-1] for line in listing.stdout.splitlines()]
    assert names == ["data/cats/", "data/dogs/", "data/labels.csv", "data/notes.txt"]
    assert listing.stdout.splitlines()[0].split()[0] == "PRE"
    recursive = run("ls", "-r", f"{target}/", connection_string=conn)
    assert len(recursive.stdout.splitlines()) == len(TREE)
    down = run("download", "-r", target, str(tmp_path / "dst"), connection_string=conn)
    assert down.returncode == 0, down.stderr
    assert read_tree(tmp_path / "dst") == contents
    again = run("download", "-r", "-q", target, str(tmp_path / "dst"), connection_string=conn)
    assert again.returncode == 0
    assert again.stderr == ""
    assert again.stdout == ""


def test_a_full_url_takes_the_credential_of_the_connection_string(azurite, container, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"weights")
    url = f"{container.url}/models/m.pt"
    result = run("upload", str(tmp_path / "m.pt"), url, connection_string=azurite.connection_string)
    assert result.returncode == 0, result.stderr
    assert blobs(container) == {"models/m.pt": b"weights"}


def test_options_select_overwrite_and_dry_run(azurite, container, tmp_path):
    make_tree(tmp_path / "src")
    conn = azurite.connection_string
    src = str(tmp_path / "src")
    dry = run(
        "upload",
        "-r",
        "--dry-run",
        "--include",
        "*.png",
        src,
        container.name,
        connection_string=conn,
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == ["would upload: cats/0.png", "would upload: cats/1.png"]
    assert blobs(container) == {}
    some = run(
        "upload",
        "-r",
        "--concurrency",
        "1",
        "--exclude",
        "dogs/*",
        "--exclude",
        "*.csv",
        src,
        container.name,
        connection_string=conn,
    )
    assert some.returncode == 0, some.stderr
    assert sorted(blobs(container)) == ["cats/0.png", "cats/1.png", "notes.txt"]
    container.client.upload_blob("notes.txt", b"remote", overwrite=True)
    never = run("upload", "-r", "--overwrite", "never", src, container.name, connection_string=conn)
    assert never.returncode == 0, never.stderr
    assert blobs(container)["notes.txt"] == b"remote"


def test_a_failed_file_is_named_on_stderr_and_exits_1(azurite, container, tmp_path):
    from azure.storage.blob import ContentSettings

    container.client.upload_blob("ok.bin", b"fine")
    container.client.upload_blob("bad.bin", b"good data")
    container.client.get_blob_client("bad.bin").set_http_headers(
        ContentSettings(content_md5=b"0123456789abcdef")
    )
    result = run(
        "download",
        "-r",
        container.name,
        str(tmp_path / "dst"),
        connection_string=azurite.connection_string,
    )
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if "failed:" in line]
    assert len(failed) == 1
    assert "bad.bin" in failed[0]
    assert "Content-MD5" in failed[0]
    assert read_tree(tmp_path / "dst") == {"ok.bin": b"fine"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("upload",), "the following arguments are required"),
        (("copy", "a", "b"), "invalid choice"),
        (("upload", "--overwrite", "sometimes", "a", "b"), "invalid choice"),
        (("upload", "--concurrency", "0", "a", "b"), "must be at least 1"),
        (("ls", "mycontainer"), "is not a URL"),
        (("ls", "ftp://host/c"), "is not a URL"),
    ],
)
def test_usage_errors_exit_2(arguments, message):
    result = run(*arguments)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_malformed_connection_string_exits_2_naming_the_field_but_not_the_key():
    secret = "c2VjcmV0LWtleS0xMjM0NQ=="
    result = run("ls", "c", connection_string=f"AccountName=a;AccountKey={secret};Bogus=1")
    assert result.returncode == 2
    assert "'Bogus'" in result.stderr
    assert secret not in result.stderr


def test_a_terminal_gets_a_progress_bar_of_files_and_bytes(azurite, container, tmp_path):
    make_tree(tmp_path / "src")
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    controller, terminal = pty.openpty()
    # A terminal of 30 rows and 120 columns (a fresh pty has none).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    try:
        process = subprocess.Popen(
            [script(), "upload", "-r", str(tmp_path / "src"), container.name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal is closed once the process is gone
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=120) == 0
    finally:
        os.close(controller)
    text = output.decode(errors="replace")
    assert f"{len(TREE)}/{len(TREE)} files" in text
    assert "100%" in text
    assert "B/s" in text
