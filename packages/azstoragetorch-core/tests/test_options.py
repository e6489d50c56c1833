"""ClientOptions: immutable, validated, and importable from core alone."""

import dataclasses
import subprocess
import sys

import pytest

import azstoragetorch.options
from azstoragetorch.options import ClientOptions


def test_public_names_are_pinned():
    assert azstoragetorch.options.__all__ == ["ClientOptions"]


def test_defaults():
    options = ClientOptions()
    assert (options.connect_timeout, options.read_timeout) == (20.0, 60.0)
    assert (options.max_retries, options.retry_backoff, options.retry_backoff_max) == (5, 0.4, 30.0)
    assert options.max_connections_per_host == 32
    assert (options.part_size, options.block_size, options.max_concurrency) == (None, None, None)
    assert options.read_ahead == 16 * 1024 * 1024


def test_options_are_immutable_and_compare_by_value():
    options = ClientOptions(read_timeout=5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.read_timeout = 1.0  # type: ignore[misc]
    assert options == ClientOptions(read_timeout=5.0)
    assert hash(options) == hash(ClientOptions(read_timeout=5.0))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("connect_timeout", 0, "connect_timeout must be more than 0 and at most 3600 seconds"),
        ("read_timeout", -1.0, "read_timeout must be more than 0"),
        ("read_timeout", float("nan"), "read_timeout must be a number of seconds"),
        ("read_timeout", "60", "read_timeout must be a number of seconds"),
        ("max_retries", -1, "max_retries must be from 0 to 100"),
        ("max_retries", 2.5, "max_retries must be an integer from 0 to 100"),
        ("max_retries", True, "max_retries must be an integer"),
        ("retry_backoff", -0.1, "retry_backoff must be at least 0"),
        ("max_connections_per_host", 0, "max_connections_per_host must be from 1 to 1024"),
        ("part_size", 0, "part_size must be from 1 to 4194304000 bytes"),
        ("block_size", 5000 * 1024 * 1024, "block_size must be from 1 to 4194304000 bytes"),
        ("max_concurrency", 0, "max_concurrency must be from 1 to 256"),
        ("read_ahead", 0, "read_ahead must be from 1 to 4194304000 bytes"),
    ],
)
def test_a_bad_value_names_the_field_and_the_range(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ClientOptions(**{field: value})


def test_the_longest_backoff_cannot_be_shorter_than_the_first():
    with pytest.raises(ValueError, match=r"retry_backoff_max .* must be at least retry_backoff"):
        ClientOptions(retry_backoff=10.0, retry_backoff_max=1.0)


def test_importing_options_needs_only_core():
    code = (
        "import sys, azstoragetorch.options;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'"
        " or m.startswith(('azstoragetorch.io', 'azstoragetorch.datasets', 'azure'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
