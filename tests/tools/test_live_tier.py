"""The live tier is wired: run through AZSTORAGETORCH_LIVE_ACCOUNT_URL, here at Azurite.

A real account cannot be reached from the test machine, so the variable names the
session's Azurite with an account SAS, exactly as a maintainer would name a real
account: the live copies of the tests run, pass, and leave no container behind,
even when a test fails. Unset, the tier is not collected at all.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _azurite_plugin import LIVE_ENV, LIVE_PREFIX
from azure.storage.blob import (
    AccountSasPermissions,
    BlobServiceClient,
    ResourceTypes,
    generate_account_sas,
)

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# Few, quick modules: BlobIO with torch, the map-style dataset.
LIVE_MODULES = ["tests/io/test_blob_io_torch.py", "tests/datasets/test_map_dataset.py"]

FAILING = """
def test_a_live_test_that_fails(container):
    container.client.upload_blob("x", b"x")
    assert False, "failing on purpose"
"""


def _account_sas_url(azurite) -> str:  # type: ignore[no-untyped-def]
    sas = generate_account_sas(
        azurite.account_name,
        azurite.account_key,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, delete=True, list=True, create=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    return f"{azurite.blob_endpoint}?{sas}"


def _pytest(*args: str, live_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (LIVE_ENV, "CI")}
    # The rig's modules, for a test file outside tests/ that loads them as plugins.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "tools")])
    if live_url is not None:
        env[LIVE_ENV] = live_url
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _leftovers(azurite) -> list[str]:  # type: ignore[no-untyped-def]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        return [c.name for c in service.list_containers(name_starts_with=LIVE_PREFIX)]


def test_the_live_copies_run_through_the_variable_and_clean_up(azurite):
    out = _pytest("-m", "live", "-rA", *LIVE_MODULES, live_url=_account_sas_url(azurite))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    passed = [line for line in out.stdout.splitlines() if line.startswith("PASSED ")]
    assert len(passed) >= 10, out.stdout[-3000:]
    assert all("[live" in line or "-live" in line for line in passed), passed
    assert _leftovers(azurite) == []


def test_a_failing_live_test_still_deletes_its_container(azurite, tmp_path):
    (tmp_path / "test_fails.py").write_text(FAILING)
    out = _pytest(
        *("-p", "_azurite_plugin", "-p", "_fixtures", "--rootdir", str(tmp_path)),
        *("-c", str(ROOT / "pyproject.toml"), "-m", "live"),
        str(tmp_path / "test_fails.py"),
        live_url=_account_sas_url(azurite),
    )
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 failed" in out.stdout
    assert _leftovers(azurite) == []


def test_without_the_variable_no_live_test_is_collected():
    out = _pytest("-m", "live", "--collect-only", *LIVE_MODULES, live_url=None)
    assert out.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, out.stdout[-2000:]
    assert "no tests collected" in out.stdout
    assert "[live]" not in out.stdout
