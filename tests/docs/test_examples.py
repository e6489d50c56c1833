"""Every Python example in the documentation runs, against Azurite, as written.

The pages (README.md, docs/*.rst, and the docstrings of the public API, which the
API reference shows) are run one subprocess per page, each example after the
other in one namespace. Only the placeholders change: the account URL
``https://<account>.blob.core.windows.net`` becomes an Azurite over https and
``<container>`` a fresh container holding the blobs the examples name;
``http://127.0.0.1:10000`` becomes the port of an Azurite over http. Everything
else, the default credential included, runs for real: ``DefaultAzureCredential``
gets its tokens from a local managed-identity endpoint (see ``_identity_endpoint``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import _doc_examples
import _identity_endpoint
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from PIL import Image

import azstoragetorch.credentials
import azstoragetorch.datasets
import azstoragetorch.exceptions
import azstoragetorch.io
import azstoragetorch.io.dcp as dcp
import azstoragetorch.io.transfer
import azstoragetorch.options

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("_run_examples.py")
PUBLIC_MODULES = (
    azstoragetorch.io,
    azstoragetorch.io.transfer,
    azstoragetorch.credentials,
    azstoragetorch.datasets,
    azstoragetorch.exceptions,
    azstoragetorch.options,
)

# Blobs every page's container holds: the names the examples read.
SEEDED = (
    [f"cats/{n}.png" for n in range(100)]
    + [f"img/{n}.png" for n in range(4)]
    + [f"train/{n}.png" for n in range(8)]
    + ["blob", "blob-1", "blob-2"]
)
DISTRIBUTION_READMES = tuple(
    f"packages/{name}/README.md"
    for name in (
        "azstoragetorch-core",
        "azstoragetorch-io",
        "azstoragetorch-datasets",
        "azstoragetorch",
    )
)
# Pages whose examples authorise with the default credential: it must have asked
# the identity endpoint for a token, or the page did not test what it shows.
USES_DEFAULT_CREDENTIAL = {
    "README.md",
    *DISTRIBUTION_READMES,
    "docs/getting-started.rst",
    "docs/checkpointing.rst",
    "docs/distributed-checkpoints.rst",
    "docs/transfer.rst",
    "docs/tuning.rst",
}
# A prefix of the message: PYTHONWARNINGS cannot hold its comma.
_SINGLE_PROCESS_DCP = "torch.distributed is disabled"
# Warnings Lightning 2.6.6 itself raises with torch 2.13 (its pytree shim) and its
# advice for real data loaders, which a toy example does not need: ignored on the
# Lightning page only (message prefixes: PYTHONWARNINGS cannot hold a comma).
PAGE_WARNINGS = {
    # torchdata 0.11's StatefulDataLoader calls a torch function deprecated since.
    "docs/datasets.rst": ["ignore:'set_vital' is deprecated"],
    "docs/lightning.rst": [
        "ignore:`isinstance(treespec:FutureWarning",
        "ignore:The 'train_dataloader' does not have many workers",
        "ignore:The 'val_dataloader' does not have many workers",
        # Resuming into the folder of the first run, as the example does, is intended.
        "ignore:Checkpoint directory",
    ],
}
# Pages whose examples say to run them with torchrun: run them so, on this many ranks.
TORCHRUN_RANKS = {"docs/distributed-checkpoints.rst": 2}


def _pages() -> dict[str, list[_doc_examples.Example]]:
    pages = {"README.md": _doc_examples.markdown_examples((REPO / "README.md").read_text())}
    for readme in DISTRIBUTION_READMES:  # each distribution's PyPI page
        pages[readme] = _doc_examples.markdown_examples((REPO / readme).read_text())
    for path in sorted((REPO / "docs").glob("*.rst")):
        pages[f"docs/{path.name}"] = _doc_examples.rst_examples(path.read_text())
    for module in PUBLIC_MODULES:
        pages[f"{module.__name__} (module docstring)"] = _doc_examples.rst_examples(
            module.__doc__ or ""
        )
        for name in module.__all__:
            obj = getattr(module, name)
            pages[f"{module.__name__}.{name}"] = _doc_examples.docstring_examples(obj)
    # The distributed checkpoint docstrings build on each other (the reader loads what
    # the writer saved), so they run as one page, in the order a reader meets them.
    pages["azstoragetorch.io.dcp"] = [
        example
        for obj in (azstoragetorch.io.dcp, dcp.BlobStorageWriter, dcp.BlobStorageReader)
        for example in _doc_examples.docstring_examples(obj)
    ]
    return {page: examples for page, examples in pages.items() if examples}


PAGES = _pages()


def test_the_examples_are_found_on_every_page_that_has_them():
    # Guards the extraction itself: a parser that found nothing would pass every run.
    for page in (
        "README.md",
        *DISTRIBUTION_READMES,
        "docs/getting-started.rst",
        "docs/credentials.rst",
        "docs/checkpointing.rst",
        "docs/datasets.rst",
        "docs/distributed-checkpoints.rst",
        "docs/lightning.rst",
        "docs/transfer.rst",
        "azstoragetorch.io.transfer (module docstring)",
        "azstoragetorch.io.transfer.list",
        "azstoragetorch.credentials (module docstring)",
        "azstoragetorch.io.BlobIO",
        "azstoragetorch.io.BackgroundSaver",
        "azstoragetorch.datasets.BlobDataset",
        "azstoragetorch.datasets.IterableBlobDataset",
        "azstoragetorch.datasets.Blob",
        "azstoragetorch.io.dcp",
    ):
        assert PAGES.get(page), f"no examples found in {page}"
    assert len(PAGES["docs/datasets.rst"]) >= 4


def test_shell_and_text_blocks_are_not_taken_for_python():
    text = (
        "Run this:\n\n.. code-block:: console\n\n    python3 tools/dev.py test\n\n"
        "And::\n\n    x = 1\n\n.. code-block:: python\n    :caption: c\n\n    y = 2\n"
    )
    assert [e.code for e in _doc_examples.rst_examples(text)] == ["x = 1\n", "y = 2\n"]


@dataclasses.dataclass
class _Storage:
    https_endpoint: str
    http_root: str
    ca_cert: str
    identity: _identity_endpoint.IdentityEndpoint
    service: BlobServiceClient


@pytest.fixture(scope="module")
def storage(azurite, azurite_https) -> Iterator[_Storage]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as plain:
        with contextlib.suppress(ResourceExistsError):
            plain.create_container("models")  # docs/credentials.rst writes there
    with (
        _identity_endpoint.serve() as identity,
        BlobServiceClient.from_connection_string(
            azurite_https.connection_string, connection_verify=str(azurite_https.ca_cert_path)
        ) as service,
    ):
        yield _Storage(
            azurite_https.blob_endpoint,
            f"http://127.0.0.1:{azurite.port}",
            str(azurite_https.ca_cert_path),
            identity,
            service,
        )


def _png(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12 + n % 5, 10), (n % 256, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def _seeded_container(storage: _Storage) -> str:
    name = f"docs-{uuid.uuid4().hex[:12]}"
    container = storage.service.create_container(name)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: container.upload_blob(SEEDED[i], _png(i)), range(len(SEEDED))))
    return name


def _localise(code: str, storage: _Storage, container: str) -> str:
    code = code.replace(
        "https://<account>.blob.core.windows.net/<container>",
        f"{storage.https_endpoint}/{container}",
    )
    code = code.replace("https://<account>.blob.core.windows.net", storage.https_endpoint)
    code = code.replace("http://127.0.0.1:10000", storage.http_root)
    # Remaining placeholders such as <blob-1> name seeded blobs.
    return re.sub(r"<([a-z][a-z0-9-]*)>", r"\1", code)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_example_on_the_page_runs(page, storage, tmp_path):
    container = _seeded_container(storage)
    examples = [
        {"line": e.line, "code": _localise(e.code, storage, container)} for e in PAGES[page]
    ]
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"page": page, "examples": examples}))
    command = [sys.executable, str(RUNNER), str(job)]
    if page in TORCHRUN_RANKS:
        ranks = str(TORCHRUN_RANKS[page])
        launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", ranks]
        command = [sys.executable, *launcher, str(RUNNER), str(job)]
    tokens_before = len(storage.identity.resources)
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env={
            **os.environ,
            **storage.identity.environment(),
            "REQUESTS_CA_BUNDLE": storage.ca_cert,
            # Through the environment, so torchrun's ranks inherit it: warnings fail
            # an example, except torch's note that DCP outside a process group works
            # in one process, which is what a single-process example means.
            "PYTHONWARNINGS": ",".join(
                ["error", f"ignore:{_SINGLE_PROCESS_DCP}:UserWarning", *PAGE_WARNINGS.get(page, [])]
            ),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = TORCHRUN_RANKS.get(page, 1)
    assert result.stdout.count(f"ran {len(examples)} examples") == ranks, result.stdout
    if page in USES_DEFAULT_CREDENTIAL:
        assert len(storage.identity.resources) > tokens_before
