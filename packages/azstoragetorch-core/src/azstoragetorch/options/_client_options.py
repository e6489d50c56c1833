"""``ClientOptions``: the one settings object of azstoragetorch."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["ClientOptions"]

_MIB = 1024 * 1024
# The service's largest block (Put Block) and a sane ceiling for one ranged GET.
_MAX_TRANSFER = 4000 * _MIB


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """How azstoragetorch talks to Blob Storage. Immutable; every field is optional.

    Pass it as ``options=`` wherever a ``credential`` is taken:
    :class:`~azstoragetorch.io.BlobIO`, the ``from_container_url`` and
    ``from_blob_urls`` factories of both datasets,
    :class:`~azstoragetorch.io.dcp.BlobStorageWriter` and
    :class:`~azstoragetorch.io.dcp.BlobStorageReader`, background saves, checkpoint
    housekeeping, the Lightning plugin and transfers. The tuning page of the
    documentation lists them and says why each default is what it is.

    :param connect_timeout: Seconds to wait for a connection (TCP and TLS).
    :param read_timeout: Seconds the service may stay silent while answering.
    :param max_retries: Retries of a failed request (HTTP 408, 429, 5xx, a dropped
        connection) before the error is raised; ``0`` never retries.
    :param retry_backoff: Seconds to wait before the first retry; each further retry
        waits twice as long, up to ``retry_backoff_max``.
    :param retry_backoff_max: The longest wait between two retries, in seconds.
    :param max_connections_per_host: Idle keep-alive connections kept open to each
        storage account, per process.
    :param part_size: Bytes per ranged GET when a large read is split into parts
        fetched in parallel. ``None``: 32 MiB.
    :param block_size: Bytes per uploaded block. ``None``: 64 MiB for ``BlobIO``,
        32 MiB for a distributed checkpoint (each rank writes two blobs at once).
    :param max_concurrency: Parallel requests of one reader or writer. ``None``: 4,
        and 8 for a distributed checkpoint load (many small ranges).
    :param read_ahead: Bytes a ``BlobIO`` reader fetches ahead of small reads; the
        window doubles once for sequential reading.
    :raises ValueError: for a value out of range; the message names the field and the
        range allowed.
    """

    connect_timeout: float = 20.0
    read_timeout: float = 60.0
    max_retries: int = 5
    retry_backoff: float = 0.4
    retry_backoff_max: float = 30.0
    max_connections_per_host: int = 32
    part_size: int | None = None
    block_size: int | None = None
    max_concurrency: int | None = None
    read_ahead: int = 16 * _MIB

    def __post_init__(self) -> None:
        _check_number("connect_timeout", self.connect_timeout, 0.0, 3600.0, low_open=True)
        _check_number("read_timeout", self.read_timeout, 0.0, 3600.0, low_open=True)
        _check_int("max_retries", self.max_retries, 0, 100)
        _check_number("retry_backoff", self.retry_backoff, 0.0, 600.0)
        _check_number("retry_backoff_max", self.retry_backoff_max, 0.0, 3600.0)
        if self.retry_backoff_max < self.retry_backoff:
            raise ValueError(
                f"retry_backoff_max ({self.retry_backoff_max}) must be at least "
                f"retry_backoff ({self.retry_backoff})."
            )
        _check_int("max_connections_per_host", self.max_connections_per_host, 1, 1024)
        if self.part_size is not None:
            _check_int("part_size", self.part_size, 1, _MAX_TRANSFER, unit="bytes")
        if self.block_size is not None:
            _check_int("block_size", self.block_size, 1, _MAX_TRANSFER, unit="bytes")
        if self.max_concurrency is not None:
            _check_int("max_concurrency", self.max_concurrency, 1, 256)
        _check_int("read_ahead", self.read_ahead, 1, _MAX_TRANSFER, unit="bytes")


def _check_int(name: str, value: object, low: int, high: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer from {low} to {high}; got {value!r}.")
    if not low <= value <= high:
        what = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be from {low} to {high}{what}; got {value}.")


def _check_number(
    name: str, value: object, low: float, high: float, *, low_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds; got {value!r}.")
    above_low = value > low if low_open else value >= low
    if not above_low or value > high:
        bound = "more than" if low_open else "at least"
        raise ValueError(
            f"{name} must be {bound} {low:g} and at most {high:g} seconds; got {value}."
        )
