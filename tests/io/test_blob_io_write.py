"""Writing through BlobIO against Azurite: whole or nothing, checksummed, bounded."""

import gc
import io
import tracemalloc
import warnings

import pytest
from _fixtures import download, random_bytes
from azure.core.credentials import AzureSasCredential
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from azstoragetorch.exceptions import BlobServiceError, FatalBlobIOWriteError
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

MIB = 1024 * 1024
SMALL_BLOCKS = ClientOptions(block_size=1 * MIB, max_concurrency=2)


def blob_name(container, url):
    return url[len(container.url) + 1 :].replace("%23", "#").replace("%20", " ").replace("%2B", "+")


def test_data_that_fits_one_block_is_one_put_blob_with_a_checksum(
    container, blob_url, key, recorder
):
    with BlobIO(blob_url, "wb", credential=key) as f:
        assert f.write(b"hello ") == 6
        assert f.write(bytearray(b"blob")) == 4
        assert f.write(memoryview(b"!")) == 1
        assert f.tell() == 11
    puts = [r for r in recorder.requests if r.method == "PUT"]
    assert len(puts) == 1
    assert "comp=" not in puts[0].url
    assert puts[0].headers["Content-MD5"]
    assert download(container, "dir/a b#c+d.pt") == b"hello blob!"


def test_larger_data_is_staged_in_blocks_and_committed_at_close(container, blob_url, key, recorder):
    data = random_bytes(5 * MIB + 123)
    with BlobIO(blob_url, "wb", credential=key, options=SMALL_BLOCKS) as f:
        for start in range(0, len(data), 700_000):
            f.write(data[start : start + 700_000])
        # Nothing is visible before the commit.
        assert not container.client.get_blob_client("dir/a b#c+d.pt").exists()
    assert download(container, "dir/a b#c+d.pt") == data
    blocks = [r for r in recorder.requests if "comp=block&" in r.url]
    assert len(blocks) == 6
    assert all(r.headers["Content-MD5"] for r in blocks)
    assert recorder.count("PUT", "comp=blocklist") == 1


def test_memory_held_by_uploads_stays_within_the_bound(blob_url, key, recorder):
    data = random_bytes(12 * MIB)
    with BlobIO(blob_url, "wb", credential=key, options=SMALL_BLOCKS) as f:
        f.write(data)  # one large write: the writer must wait, not buffer it all
    # A writer holds at most max(2, max_concurrency) blocks.
    assert recorder.max_in_flight_bytes <= SMALL_BLOCKS.block_size * 2


def test_a_small_blob_costs_its_own_size_in_memory_not_a_whole_block(container, blob_url, key):
    # With the default 64 MiB blocks, uploading many small files (a dataset) must not
    # allocate and zero a block per file.
    data = random_bytes(100 * 1024)
    tracemalloc.start()
    try:
        with BlobIO(blob_url, "wb", credential=key) as f:
            for start in range(0, len(data), 4096):
                f.write(data[start : start + 4096])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB
    assert download(container, "dir/a b#c+d.pt") == data


def test_the_service_verifies_the_checksum(blob_url, key):
    from azstoragetorch._core._blob_client import BlobClient
    from azstoragetorch._core._url import BlobURL

    client = BlobClient.create(BlobURL.parse(blob_url), key)
    with pytest.raises(BlobServiceError) as caught:
        client.put_blob(b"data", "AAAAAAAAAAAAAAAAAAAAAA==")
    assert caught.value.error_code == "Md5Mismatch"


def test_an_exception_in_the_with_block_commits_nothing_and_keeps_the_old_blob(
    container, blob_url, key
):
    with BlobIO(blob_url, "wb", credential=key) as f:
        f.write(b"the good checkpoint")
    with pytest.raises(RuntimeError, match="training crashed"):
        with BlobIO(blob_url, "wb", credential=key, options=SMALL_BLOCKS) as f:
            f.write(random_bytes(3 * MIB))
            raise RuntimeError("training crashed")
    assert download(container, "dir/a b#c+d.pt") == b"the good checkpoint"
    assert f.closed


def test_an_unclosed_writer_that_is_garbage_collected_commits_nothing(container, blob_url, key):
    f = BlobIO(blob_url, "wb", credential=key)
    f.write(b"half a checkpoint")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del f
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert not container.client.get_blob_client("dir/a b#c+d.pt").exists()


def test_close_is_idempotent_and_commits_once(container, blob_url, key, recorder):
    f = BlobIO(blob_url, "wb", credential=key)
    f.write(b"x")
    f.close()
    f.close()
    assert recorder.count("PUT") == 1
    assert download(container, "dir/a b#c+d.pt") == b"x"


def test_an_empty_writer_commits_an_empty_blob(container, blob_url, key):
    with BlobIO(blob_url, "wb", credential=key):
        pass
    assert download(container, "dir/a b#c+d.pt") == b""


def test_name_is_the_url_without_its_sas_and_mode_is_as_opened(container, azurite, key):
    url, sas = read_only_sas_url(container, azurite, "named.pt")
    container.client.upload_blob("named.pt", b"x")
    with BlobIO(f"{url}?{sas}", "rb") as f:
        assert f.name == url
        assert f.mode == "rb"
    with BlobIO(f"{container.url}/other.pt", "wb", credential=key) as f:
        assert f.mode == "wb"


def test_flush_uploads_without_committing(container, blob_url, key, recorder):
    with BlobIO(blob_url, "wb", credential=key) as f:
        f.write(b"part one ")
        f.flush()
        assert recorder.count("PUT", "comp=block&") == 1
        assert not container.client.get_blob_client("dir/a b#c+d.pt").exists()
        f.write(b"part two")
    assert download(container, "dir/a b#c+d.pt") == b"part one part two"


def read_only_sas_url(container, azurite, name):
    sas = generate_blob_sas(
        azurite.account_name,
        container.name,
        name,
        account_key=azurite.account_key,
        permission=BlobSasPermissions(read=True),
        expiry="2099-01-01T00:00:00Z",
    )
    return f"{container.url}/{name}", sas


def test_a_failed_upload_is_fatal_and_every_later_call_raises_it(container, azurite):
    container.client.upload_blob("guarded", b"original")
    url, sas = read_only_sas_url(container, azurite, "guarded")
    f = BlobIO(url, "wb", credential=AzureSasCredential(sas), options=SMALL_BLOCKS)
    # The refused block upload runs in the background: the error surfaces at the
    # first call after it fails, which may be the write itself or the flush.
    with pytest.raises(FatalBlobIOWriteError) as caught:
        f.write(random_bytes(2 * MIB))
        f.flush()
    assert isinstance(caught.value.underlying_exception, PermissionError)
    # The same error answers every later call, also after close() has closed it.
    for operation in (lambda: f.write(b"more"), f.flush, f.close, f.close, f.flush):
        with pytest.raises(FatalBlobIOWriteError) as again:
            operation()
        assert again.value is caught.value
    assert f.closed
    assert download(container, "guarded") == b"original"
    assert "sig=" not in str(caught.value)


def test_a_refused_single_put_raises_fatal_error_at_close(container, azurite):
    container.client.upload_blob("guarded", b"original")
    url, sas = read_only_sas_url(container, azurite, "guarded")
    f = BlobIO(url, "wb", credential=AzureSasCredential(sas))
    f.write(b"small")
    with pytest.raises(FatalBlobIOWriteError, match="Not authorised"):
        f.close()
    assert f.closed
    assert download(container, "guarded") == b"original"


@pytest.mark.parametrize(
    ("operation", "exception"),
    [
        (lambda f: f.read(), io.UnsupportedOperation),
        (lambda f: f.readinto(bytearray(1)), io.UnsupportedOperation),
        (lambda f: f.readline(), io.UnsupportedOperation),
        (lambda f: f.seek(0), io.UnsupportedOperation),
        (lambda f: f.fileno(), io.UnsupportedOperation),
        (lambda f: f.truncate(0), io.UnsupportedOperation),
        (lambda f: f.write("text"), TypeError),
        (lambda f: f.write(42), TypeError),
    ],
)
def test_unsupported_operations_in_write_mode(blob_url, key, operation, exception):
    with BlobIO(blob_url, "wb", credential=key) as f:
        with pytest.raises(exception):
            operation(f)
        assert f.writable()
        assert not f.readable()
        assert not f.seekable()


@pytest.mark.parametrize(
    "operation",
    [lambda f: f.write(b"x"), lambda f: f.flush(), lambda f: f.tell(), lambda f: f.writable()],
)
def test_every_operation_on_a_closed_writer_raises_value_error(blob_url, key, operation):
    f = BlobIO(blob_url, "wb", credential=key)
    f.close()
    with pytest.raises(ValueError, match="closed"):
        operation(f)
