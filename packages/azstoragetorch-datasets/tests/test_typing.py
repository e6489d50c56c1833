"""User code type-checks against the datasets (py.typed ships, the overloads hold)."""

import subprocess
import sys
import textwrap

import pytest

USER_CODE = textwrap.dedent(
    """
    import pathlib

    from azstoragetorch.datasets import Blob, BlobDataset, IterableBlobDataset

    def size(blob: Blob) -> int:
        return blob.size

    def cached_bytes(blob: Blob) -> bytes:
        with blob.reader(cache_dir=pathlib.Path("/tmp/cache"), cache_max_bytes=2**20) as f:
            reveal_type(f)
            return f.read()

    plain = BlobDataset.from_container_url("https://a.blob.core.windows.net/c")
    sized = BlobDataset.from_blob_urls("https://a.blob.core.windows.net/c/b", transform=size)
    stream = IterableBlobDataset.from_container_url(
        "https://a.blob.core.windows.net/c", transform=size
    )
    cached = IterableBlobDataset.from_blob_urls(
        ["https://a.blob.core.windows.net/c/b"],
        cache_dir=pathlib.Path("/tmp/cache"),
        cache_max_bytes=2**30,
        transform=size,
    )
    reveal_type(plain[0]["data"])
    reveal_type(sized[0])
    reveal_type(next(iter(stream)))
    reveal_type(next(iter(cached)))
    """
)


@pytest.mark.slow
def test_samples_are_typed_by_the_transform(tmp_path):
    path = tmp_path / "user_code.py"
    path.write_text(USER_CODE)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    revealed = [
        line.split("Revealed type is ")[1] for line in out.stdout.splitlines() if "Revealed" in line
    ]
    assert revealed == [
        '"azstoragetorch.io._blob_io.BlobIO"',
        '"bytes"',
        '"int"',
        '"int"',
        '"int"',
    ], out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout
