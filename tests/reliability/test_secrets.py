"""No SAS signature, account key or token shows in logs, messages, reprs or samples.

Each test runs success and failure paths with one kind of credential while every
logger (ours, azure-core, urllib3) records at DEBUG, gathers the text a user could
see (log records, exception messages and reprs along the whole chain, formatted
tracebacks, reprs of the objects, samples) and looks for the secrets in every form
they travel in: raw, percent-encoded, and percent-encoded twice.
"""

from __future__ import annotations

import logging
import traceback
import urllib.parse
import warnings
from collections.abc import Callable, Iterator

import azurite as azurite_rig
import pytest
import torch
import torch.distributed.checkpoint as dcp
from _azurite_credentials import StaticTokenCredential
from _fault_proxy import Before, Reset, Respond, Stall, Truncate
from _fixtures import container_sas
from _reliability import FAST, STALL_S
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.storage.blob import (
    BlobServiceClient,
)
from torch.distributed.checkpoint.api import CheckpointException

from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.io import BlobIO
from azstoragetorch.io._reader import ReadOptions
from azstoragetorch.io._writer import WriteOptions
from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

pytestmark = pytest.mark.timeout(120)

KIB = 1024
SMALL_READS = ReadOptions(
    read_ahead=16 * KIB, max_read_ahead=32 * KIB, part_size=48 * KIB, min_part=16 * KIB
)
SMALL_BLOCKS = WriteOptions(block_size=64 * KIB, max_buffer=128 * KIB, max_concurrency=2)
DATA = bytes(range(256)) * 1000  # 256,000 bytes: several windows and blocks


def forms(secret: str) -> set[str]:
    """The secret as it may travel: raw, percent-encoded once and twice."""
    raw = urllib.parse.unquote(secret)
    once = urllib.parse.quote(raw, safe="")
    twice = urllib.parse.quote(once, safe="")
    return {raw, once, twice, once.lower(), twice.lower()}


class Evidence:
    """Everything a user could see, gathered while the secrets were in use."""

    def __init__(self) -> None:
        self.records: list[str] = []
        self.texts: list[str] = []

    def exception(self, error: BaseException) -> None:
        """Messages and reprs of ``error`` and every exception it chains to."""
        self.texts.append("".join(traceback.format_exception(error)))
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.texts += [str(current), repr(current), repr(current.args)]
            current = current.__cause__ or current.__context__

    def expect_failure(self, action: Callable[[], object]) -> BaseException:
        """Run ``action``, which must raise; keep what the exception shows."""
        try:
            action()
        except Exception as error:
            self.exception(error)
            return error
        raise AssertionError("the failure path did not fail")

    def objects(self, *objects: object) -> None:
        self.texts += [repr(o) for o in objects] + [str(o) for o in objects]

    def assert_clean(self, secrets: dict[str, str]) -> None:
        for name, secret in secrets.items():
            for form in forms(secret):
                for text in self.records + self.texts:
                    if form in text:
                        # Show where, not the secret (the report may be published).
                        where = text.replace(form, "<SECRET>")[:500]
                        pytest.fail(f"the {name} shows, as {form[:4]}...: {where}")


class _Collect(logging.Handler):
    def __init__(self, evidence: Evidence) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self._evidence = evidence

    def emit(self, record: logging.LogRecord) -> None:
        self._evidence.records.append(self.format(record))


@pytest.fixture
def evidence() -> Iterator[Evidence]:
    """Records every log record of every logger at DEBUG, through the root logger."""
    gathered = Evidence()
    handler = _Collect(gathered)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield gathered
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def exercise_blob_io(evidence: Evidence, url: str, **kwargs: object) -> None:
    """Write, read and torch-load one blob at ``url``, keeping the objects' reprs."""
    with BlobIO(url, "wb", write_options=SMALL_BLOCKS, **kwargs) as f:  # type: ignore[arg-type]
        f.write(DATA)
        evidence.objects(f)
    with BlobIO(url, "rb", read_options=SMALL_READS, **kwargs) as f:  # type: ignore[arg-type]
        assert f.read() == DATA
        evidence.objects(f, f._reader._client, f._reader._client.url)  # type: ignore[union-attr]
    evidence.objects(f)
    with BlobIO(url, "wb", **kwargs) as f:  # type: ignore[arg-type]
        torch.save({"w": torch.arange(10)}, f)
    with BlobIO(url, "rb", **kwargs) as f:  # type: ignore[arg-type]
        assert torch.equal(torch.load(f, weights_only=True)["w"], torch.arange(10))


def exercise_datasets(
    evidence: Evidence, container_url: str, blob_urls: list[str], **kwargs: object
) -> None:
    """Both datasets from a container and from blob URLs; keeps reprs and samples."""
    made = [
        BlobDataset.from_container_url(container_url, **kwargs),  # type: ignore[call-overload]
        IterableBlobDataset.from_container_url(container_url, **kwargs),  # type: ignore[call-overload]
        BlobDataset.from_blob_urls(blob_urls, **kwargs),  # type: ignore[call-overload]
        IterableBlobDataset.from_blob_urls(blob_urls, **kwargs),  # type: ignore[call-overload]
    ]
    for dataset in made:
        samples = [dataset[0]] if isinstance(dataset, BlobDataset) else list(dataset)
        assert samples
        evidence.texts += [repr(sample) for sample in samples]
        evidence.objects(dataset, dataset._blobs, dataset._blobs._clients)
    blob = BlobDataset.from_blob_urls(blob_urls, transform=lambda b: b, **kwargs)[0]  # type: ignore[call-overload]
    evidence.objects(blob, blob.url)


def exercise_dcp(evidence: Evidence, location: str, missing: str) -> None:
    """A distributed checkpoint saved and loaded in one process, then refusals."""
    state = {"w": torch.arange(1000.0), "step": 3}
    writer, reader = BlobStorageWriter(location), BlobStorageReader(location)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.distributed is disabled")
        dcp.save(state, storage_writer=writer)
        loaded = {"w": torch.zeros(1000), "step": 0}
        dcp.load(loaded, storage_reader=reader)
        assert torch.equal(loaded["w"], state["w"])
        assert loaded["step"] == 3
        # A second save without overwrite=True, and a load where nothing was saved.
        # DCP raises CheckpointException, a BaseException, so Exception misses it.
        for refused in (
            lambda: dcp.save(state, storage_writer=BlobStorageWriter(location)),
            lambda: dcp.load(loaded, storage_reader=BlobStorageReader(missing)),
        ):
            with pytest.raises(CheckpointException) as caught:
                refused()
            evidence.exception(caught.value)
    evidence.expect_failure(BlobStorageReader(missing).read_metadata)
    evidence.objects(writer, reader, writer.checkpoint_id, reader.checkpoint_id)


def signature_of(sas: str) -> str:
    return next(v for k, v in (p.split("=", 1) for p in sas.split("&")) if k == "sig")


def test_a_sas_never_shows_on_success_or_failure_paths(azurite, container, proxy, evidence):
    sas = container_sas(azurite, container.name, "rwcl")
    read_only = container_sas(azurite, container.name, "rl")
    base = f"{container.url}/secret/blob.bin"
    url = f"{base}?{sas}"
    exercise_blob_io(evidence, url)
    exercise_datasets(evidence, f"{container.url}?{sas}", [url])
    # The same SAS as a credential object rather than in the URL.
    as_credential = AzureSasCredential(sas)
    exercise_blob_io(evidence, base, credential=as_credential)
    exercise_datasets(evidence, container.url, [base], credential=as_credential)
    evidence.expect_failure(
        lambda: BlobIO(f"{container.url}/missing", "rb", credential=as_credential)
    )
    exercise_dcp(evidence, f"{container.url}/ckpt?{sas}", f"{container.url}/none?{sas}")

    # Refusals: no such blob or container, a SAS without write permission.
    evidence.expect_failure(lambda: BlobIO(f"{container.url}/missing?{sas}", "rb"))
    evidence.expect_failure(
        lambda: BlobDataset.from_container_url(f"{azurite.blob_endpoint}/nope?{sas}")
    )

    def write_read_only() -> None:
        with BlobIO(f"{base}?{read_only}", "wb", write_options=SMALL_BLOCKS) as f:
            f.write(DATA)

    evidence.expect_failure(write_read_only)

    # Faults: the transport's own messages quote the request URL.
    container.client.upload_blob("secret/data.bin", DATA)
    faulty = proxy.url(f"{container.url}/secret/data.bin?{sas}")
    for fault in (Respond(503), Reset(), Truncate(after=100), Stall(STALL_S)):
        proxy.clear()
        proxy.inject(fault, method="GET", nth=tuple(range(2, 99)))
        opened = BlobIO(faulty, "rb", client_options=FAST, read_options=SMALL_READS)
        evidence.expect_failure(lambda f=opened: f.read())  # type: ignore[misc]
        opened.close()
    proxy.clear()
    proxy.inject(Reset(), method="PUT")
    evidence.expect_failure(lambda: exercise_blob_io(evidence, faulty, client_options=FAST))
    proxy.clear()
    proxy.inject(
        Before(lambda: container.client.upload_blob("secret/data.bin", b"new", overwrite=True)),
        method="GET",
        nth=2,
    )
    with BlobIO(faulty, "rb", read_options=SMALL_READS) as f:
        evidence.expect_failure(f.read)
    proxy.clear()
    proxy.inject(Respond(500), method="GET", query="comp=list")
    evidence.expect_failure(
        lambda: list(
            IterableBlobDataset.from_container_url(
                proxy.url(f"{container.url}?{sas}"), client_options=FAST
            )
        )
    )

    # The test saw what it looks for: request lines with the SAS redacted (azure-core's
    # logging policy writes them; urllib3 too for hosts reached through a proxy).
    assert any("secret/blob.bin?" in r and "sig=REDACTED" in r for r in evidence.records)
    evidence.assert_clean({"SAS signature": signature_of(sas)})
    evidence.assert_clean({"read-only SAS signature": signature_of(read_only)})


def test_an_account_key_and_its_signatures_never_show(
    azurite, container, proxy, evidence, recorder
):
    key = AzureNamedKeyCredential(azurite.account_name, azurite.account_key)
    url = f"{container.url}/secret/keyed.bin"
    exercise_blob_io(evidence, url, credential=key)
    exercise_datasets(evidence, container.url, [url], credential=key)
    wrong = AzureNamedKeyCredential(azurite.account_name, "d3Jvbmcta2V5LXdyb25nLWtleQ==")
    evidence.expect_failure(lambda: BlobIO(url, "rb", credential=wrong))
    proxy.inject(Reset(), method="GET")
    evidence.expect_failure(
        lambda: BlobIO(proxy.url(url), "rb", credential=key, client_options=FAST)
    )
    signatures = {
        r.headers["Authorization"].split(":", 1)[1]
        for r in recorder.requests
        if "Authorization" in r.headers
    }
    assert signatures
    evidence.assert_clean({"account key": azurite.account_key})
    evidence.assert_clean({"wrong account key": "d3Jvbmcta2V5LXdyb25nLWtleQ=="})
    evidence.assert_clean({f"SharedKey signature {i}": s for i, s in enumerate(signatures)})


@pytest.fixture
def https_container(azurite_https, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_cert_path))
    with BlobServiceClient(
        azurite_https.blob_endpoint,
        credential=StaticTokenCredential(azurite_rig.make_oauth_token()),
        connection_verify=str(azurite_https.ca_cert_path),
    ) as service:
        client = service.create_container(f"secrets-{id(monkeypatch)}")
        try:
            yield f"{azurite_https.blob_endpoint}/{client.container_name}"
        finally:
            client.delete_container()


def test_a_bearer_token_never_shows(https_container, evidence, recorder):
    token = azurite_rig.make_oauth_token()
    credential = StaticTokenCredential(token)
    url = f"{https_container}/secret/token.bin"
    exercise_blob_io(evidence, url, credential=credential)
    exercise_datasets(evidence, https_container, [url], credential=credential)
    evidence.objects(credential)
    expired_token = azurite_rig.make_oauth_token(expires_in=-600)
    expired = StaticTokenCredential(expired_token)
    evidence.expect_failure(lambda: BlobIO(url, "rb", credential=expired))
    evidence.expect_failure(
        lambda: BlobDataset.from_container_url(https_container, credential=expired)
    )
    assert any(r.headers.get("Authorization") == f"Bearer {token}" for r in recorder.requests)
    for name, value in (("token", token), ("expired token", expired_token)):
        # The payload (claims) is what makes a token unique; the header is shared.
        evidence.assert_clean({name: value, f"{name}'s claims": value.split(".")[1]})


@pytest.mark.parametrize("form", sorted(forms("AbC+/dEf1234==")))
def test_the_check_finds_a_secret_in_every_form(evidence, form):
    evidence.texts.append(f"a message quoting {form} somewhere")
    with pytest.raises(pytest.fail.Exception, match="the secret shows"):
        evidence.assert_clean({"secret": "AbC+/dEf1234=="})
