"""The four distributions as users get them: built wheels in fresh environments."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import versions
from azure.storage.blob import BlobServiceClient

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["azstoragetorch-core", "azstoragetorch-io", "azstoragetorch-datasets", "azstoragetorch"]

# Exact pins: pip skips .dev versions otherwise, and would take an unrelated
# release of the same name from the index.
VERSION = versions.find_versions()[0][1]

OWNED = {
    "azstoragetorch_core": (
        "azstoragetorch/exceptions/",
        "azstoragetorch/credentials/",
        "azstoragetorch/_core/",
    ),
    "azstoragetorch_io": ("azstoragetorch/io/",),
    "azstoragetorch_datasets": ("azstoragetorch/datasets/",),
    "azstoragetorch": (),
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for name in NAMES:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "build",
                "--no-isolation",
                "--wheel",
                "--sdist",
                "--outdir",
                str(out),
                str(ROOT / "packages" / name),
            ],
            check=True,
            capture_output=True,
        )
    return out


def make_env(path: Path, dist: Path, *requirements: str, base: str | None = None) -> Path:
    """A fresh virtual environment, of ``base`` or else this interpreter, with
    ``requirements`` installed from ``dist`` first."""
    if base is None:
        venv.EnvBuilder(with_pip=True).create(path)
    else:
        subprocess.run([base, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--find-links", str(dist), *requirements],
        check=True,
        capture_output=True,
    )
    return python


def run_against_azurite(python: Path, script: str, azurite) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """Run ``script`` with the Azurite endpoint, account, key and connection string."""
    return subprocess.run(
        [
            str(python),
            "-c",
            script,
            azurite.blob_endpoint,
            azurite.account_name,
            azurite.account_key,
            azurite.connection_string,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_distribution_builds_a_wheel_and_an_sdist(dist):
    for name in NAMES:
        stem = name.replace("-", "_")
        assert len(list(dist.glob(f"{stem}-*.whl"))) == 1, name
        assert len(list(dist.glob(f"{stem}-*.tar.gz"))) == 1, name


def test_each_wheel_holds_only_its_own_files(dist):
    for stem, owned in OWNED.items():
        (wheel,) = dist.glob(f"{stem}-*-py3-none-any.whl")
        names = [n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n]
        assert "azstoragetorch/__init__.py" not in names
        assert all(n.startswith(owned) for n in names), (stem, names)
        for prefix in owned:
            assert f"{prefix}py.typed" in names


def create_container(azurite, name: str) -> None:  # type: ignore[no-untyped-def]
    """Made here, with the test dependency azure-storage-blob, which users need not have."""
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_container(name)


CHECKPOINT_SCRIPT = """
import sys, torch
from azure.core.credentials import AzureNamedKeyCredential
from azstoragetorch.io import BlobIO
endpoint, account, key, connection_string = sys.argv[1:5]
credential = AzureNamedKeyCredential(account, key)
url = endpoint + "/packaging/model.pt"
weights = {"w": torch.arange(12.0).reshape(3, 4)}
with BlobIO(url, "wb", credential=credential) as f:
    torch.save(weights, f)
with BlobIO(url, "rb", credential=credential) as f:
    assert torch.equal(torch.load(f, weights_only=True)["w"], weights["w"])
import warnings
import torch.distributed.checkpoint as dcp
from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter
warnings.simplefilter("ignore")  # dcp notes that no process group is initialised
location = endpoint + "/packaging/distributed"
dcp.save(weights, storage_writer=BlobStorageWriter(location, credential=credential))
loaded = {"w": torch.zeros(3, 4)}
dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=credential))
assert torch.equal(loaded["w"], weights["w"])
try:
    import azstoragetorch.datasets
except ModuleNotFoundError:
    print("round trip ok; datasets absent")
"""


def test_core_and_io_alone_save_and_load_a_checkpoint(dist, tmp_path, azurite):
    python = make_env(tmp_path / "serving", dist, f"azstoragetorch-io=={VERSION}", "torch==2.13.0")
    create_container(azurite, "packaging")
    out = run_against_azurite(python, CHECKPOINT_SCRIPT, azurite)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "round trip ok; datasets absent"
    # A serving image fetches its model with the console script io installs.
    fetched = subprocess.run(
        [
            str(python.parent / "azstoragetorch"),
            "download",
            "packaging/model.pt",
            str(tmp_path / "model.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "model.pt").stat().st_size > 0
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout
    assert "azstoragetorch-datasets" not in listed
    # The SDK is a test dependency only: a serving install never pulls it in.
    assert "azure-storage-blob" not in listed


USER_SCRIPT = """
from azstoragetorch.exceptions import BlobNotFoundError
from azstoragetorch.io import BlobIO

def load(url: str) -> bytes:
    try:
        with BlobIO(url, "rb", credential=False) as f:
            return f.read()
    except BlobNotFoundError as error:
        code: str | None = error.error_code
        raise

# BlobIO must type-check wherever a binary file is expected.
import torch

def save(url: str, state: dict[str, torch.Tensor]) -> None:
    with BlobIO(url, "wb") as f:
        torch.save(state, f)

def restore(url: str) -> object:
    with BlobIO(url, "rb") as f:
        return torch.load(f, weights_only=True)
"""


def test_the_meta_package_installs_all_three_at_one_version_and_types_work(dist, tmp_path):
    python = make_env(
        tmp_path / "full", dist, f"azstoragetorch=={VERSION}", "torch==2.13.0", "mypy"
    )
    installed = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m;print(' '.join(m.version(n) for n in {NAMES!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert installed == [VERSION] * 4
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    clean = subprocess.run(
        [str(python), "-m", "mypy", "--strict", str(script)], capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stdout
    script.write_text(USER_SCRIPT + "\nBlobIO(42, 'rb')\nBlobIO('u', 'ab')\n")
    wrong = subprocess.run(
        [str(python), "-m", "mypy", "--strict", str(script)], capture_output=True, text=True
    )
    # The wheels' py.typed makes the real signature visible: both misuses are caught.
    assert 'Argument 1 to "BlobIO" has incompatible type "int"' in wrong.stdout
    assert 'Argument 2 to "BlobIO" has incompatible type' in wrong.stdout


OLDEST_PYTHON = "3.10"  # requires-python of every distribution

OLDEST_SCRIPT = """
import hashlib, os, sys
from azure.core.credentials import AzureNamedKeyCredential
from azstoragetorch.exceptions import BlobNotFoundError
from azstoragetorch.io import BlobIO

endpoint, account, key, connection_string = sys.argv[1:5]
credential = AzureNamedKeyCredential(account, key)
# Empty, one Put Blob, and staged blocks read back with parallel ranged GETs.
for size in (0, 1000, 70 * 2**20):
    data = os.urandom(size)
    url = f"{endpoint}/oldest-python/blob-{size}"
    with BlobIO(url, "wb", credential=credential) as f:
        f.write(data)
    with BlobIO(url, "rb", credential=credential) as f:
        whole = f.read()
        f.seek(size // 3)
        rest = f.read()
    assert whole == data and rest == data[size // 3 :], size
try:
    BlobIO(f"{endpoint}/oldest-python/missing", "rb", credential=credential).read()
except BlobNotFoundError:
    print(f"round trip ok on {sys.version_info[0]}.{sys.version_info[1]}")
"""


def _oldest_python() -> str | None:
    """An interpreter of the oldest Python we support: on PATH, or installed by pyenv."""
    candidates = [f"python{OLDEST_PYTHON}"]
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{OLDEST_PYTHON}.*/bin/python3"))
    )
    for candidate in candidates:
        try:
            found = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
            )
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.strip() == str(
            tuple(map(int, OLDEST_PYTHON.split(".")))
        ):
            return candidate
    return None


def test_io_works_on_the_oldest_python_we_support(dist, tmp_path, azurite):
    # torch has no wheel for it on this machine (and would download gigabytes), so
    # this checks BlobIO alone: io is installed without its dependencies, beside
    # core and io's other requirement. BlobIO never imports torch.
    python = _oldest_python()
    if python is None:  # a skip, which fails the run under CI=true (conftest.py)
        pytest.skip(f"no Python {OLDEST_PYTHON} found (on PATH or under ~/.pyenv/versions)")
    env_python = make_env(
        tmp_path / "oldest",
        dist,
        f"azstoragetorch-core=={VERSION}",
        *_requirements_except_torch_and_siblings(dist, "azstoragetorch_io"),
        base=python,
    )
    subprocess.run(
        [
            *(str(env_python), "-m", "pip", "install", "--quiet", "--no-deps"),
            *("--find-links", str(dist), f"azstoragetorch-io=={VERSION}"),
        ],
        check=True,
        capture_output=True,
    )
    create_container(azurite, "oldest-python")
    out = run_against_azurite(env_python, OLDEST_SCRIPT, azurite)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"round trip ok on {OLDEST_PYTHON}"


def _requirements_except_torch_and_siblings(dist: Path, stem: str) -> list[str]:
    """The ``Requires-Dist`` lines of a built wheel, without torch and our own."""
    (wheel,) = dist.glob(f"{stem}-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    requirements = [
        line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")
    ]
    return [r for r in requirements if not r.startswith(("torch", "azstoragetorch"))]


def test_twine_accepts_every_wheel_and_sdist(dist):
    # What PyPI checks on upload: metadata, and that each README renders.
    artifacts = sorted(str(p) for p in dist.iterdir())
    assert len(artifacts) == 2 * len(NAMES)
    out = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *artifacts],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("PASSED") == len(artifacts), out.stdout


def test_check_wheel_contents_finds_nothing_wrong_in_any_wheel(dist):
    # Each wheel is checked with its own distribution's settings: the meta-package's
    # pyproject.toml allows an empty wheel, which it is by design.
    for name in NAMES:
        (wheel,) = dist.glob(f"{name.replace('-', '_')}-*.whl")
        config = ROOT / "packages" / name / "pyproject.toml"
        out = subprocess.run(
            [sys.executable, "-m", "check_wheel_contents", "--config", str(config), str(wheel)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.strip().endswith(": OK"), out.stdout
