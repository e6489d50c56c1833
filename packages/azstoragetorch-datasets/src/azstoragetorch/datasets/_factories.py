"""What the factories of ``BlobDataset`` and ``IterableBlobDataset`` share.

Both classes have ``from_container_url()`` and ``from_blob_urls()`` with the same
arguments, checks and documentation; they differ in when a container is listed
(now, or each time the dataset is iterated). This module checks the arguments,
makes the blobs, and writes the docstrings once for both.

The sample type of a factory's dataset is ``Sample``: what ``transform`` returns,
or ``BlobSample`` when there is no ``transform`` (a TypeVar default, PEP 696, so one
signature types both calls without overloads). It exists for type checkers only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from azstoragetorch._core._credentials import Credential
from azstoragetorch.datasets._blob import Blob
from azstoragetorch.datasets._cache import check_cache
from azstoragetorch.datasets._dataset_clients import clients_for
from azstoragetorch.datasets._sources import (
    BlobURLs,
    ContainerListing,
    ListedBlobs,
    check_prefix,
    check_transform,
    parse_blob_urls,
    parse_container_url,
)
from azstoragetorch.options import ClientOptions

if TYPE_CHECKING:
    from typing_extensions import TypeVar as DefaultTypeVar

    from azstoragetorch.datasets._blob import BlobSample

    Sample = DefaultTypeVar("Sample", default=BlobSample)

__all__ = [
    "blob_url_blobs",
    "container_blobs",
    "documented",
    "from_blob_urls_doc",
    "from_container_url_doc",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def container_blobs(
    container_url: str,
    prefix: str | None,
    credential: Credential,
    options: ClientOptions | None,
    transform: Callable[[Blob], Any] | None,
    *,
    lazily: bool,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_max_bytes: int | None = None,
) -> Iterable[Blob]:
    """The blobs of ``from_container_url()``: listed now, or ``lazily`` on iteration."""
    clients = clients_for(credential, options)
    url = parse_container_url(container_url, clients)
    check_prefix(prefix)
    check_transform(transform)
    cache = check_cache(cache_dir, cache_max_bytes)
    if lazily:
        return ContainerListing(url, prefix, clients, cache=cache)
    return ListedBlobs.from_listing(url, prefix, clients, cache)


def blob_url_blobs(
    blob_urls: str | Iterable[str],
    credential: Credential,
    options: ClientOptions | None,
    transform: Callable[[Blob], Any] | None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_max_bytes: int | None = None,
) -> BlobURLs:
    """The blobs of ``from_blob_urls()``, in the given order; no request is sent."""
    clients = clients_for(credential, options)
    urls = parse_blob_urls(blob_urls, clients)
    check_transform(transform)
    return BlobURLs(urls, clients, check_cache(cache_dir, cache_max_bytes))


def documented(doc: str) -> Callable[[_F], _F]:
    """Give the decorated function ``doc`` as its docstring."""

    def document(function: _F) -> _F:
        function.__doc__ = doc
        return function

    return document


_CREDENTIAL = """\
:param credential: ``None`` (the default) uses
    ``azure.identity.DefaultAzureCredential``; also accepted are an
    ``AzureSasCredential``, an ``AzureNamedKeyCredential`` (account key),
    any ``TokenCredential``, and ``False`` for anonymous access. Ignored when
    the URL carries a SAS token.
:param options: Timeouts, retries and transfer sizes for every request of the
    dataset, as a :class:`~azstoragetorch.options.ClientOptions`; ``None``
    uses the defaults."""


_SAMPLE = """\
Type checkers take what it returns as the sample type (``Sample`` in the
    signature); without it, samples are dicts of ``"url"`` and ``"data"``."""


def _cache_doc(validation: str) -> str:
    return f"""\
:param cache_dir: A local directory in which to keep a copy of each blob read,
    so that later epochs read the copy instead of the blob; created with mode
    0700 if missing. ``None`` (the default): no cache. A copy serves only the
    version of the blob it was made from: {validation} DataLoader workers, ranks
    and other jobs on one machine may share the directory. See
    :ref:`dataset-cache`.
:param cache_max_bytes: The most bytes of copies kept in ``cache_dir``: past it,
    the least recently used copies are removed. ``None`` (the default): no
    bound but the disk."""


_CACHE = _cache_doc(
    "the listing gives each blob's ETag, so a blob with a copy at that ETag\n"
    "    costs no request, and a changed blob is read again."
)
_URL_CACHE = _cache_doc(
    "each read sends one conditional request, which the service answers\n"
    "    without the content if the copy is still current."
)
_BAD_CACHE = """\
:raises ValueError: for a ``cache_dir`` that exists and is not a directory, or a
    ``cache_max_bytes`` below 1 or without ``cache_dir``.
"""


# The iterable dataset's own arguments: how ranks share the samples and the shuffle.
_ITERATION_OPTIONS = """\
:param shard_by_rank: Whether ranks of a ``torch.distributed`` process
    group divide the samples (the default) or each get all of them.
:param uneven_shares: ``"pad"`` (default), ``"drop"`` or ``"uneven"``: how
    rank shares are made equal when the samples do not divide evenly.
:param shuffle: Shuffle each epoch by ``(seed, epoch)``; see
    :meth:`set_epoch`.
:param seed: The shuffle's seed, an int of 0 or more; ``None`` means 0.
    Pass the same seed on every rank.
:param shuffle_buffer_size: The entries held to shuffle, per worker; ``None``
    for a shuffle of the whole listing.
"""

_SAME_ITERATION_OPTIONS = """\
:param shard_by_rank: As for :meth:`from_container_url`.
:param uneven_shares: As for :meth:`from_container_url`.
:param shuffle: As for :meth:`from_container_url`.
:param seed: As for :meth:`from_container_url`.
:param shuffle_buffer_size: As for :meth:`from_container_url`.
"""

_BAD_ITERATION_OPTIONS = """\
:raises ValueError: for an ``uneven_shares`` other than the three, a negative
    ``seed`` or a ``shuffle_buffer_size`` below 1.
"""


def from_container_url_doc(cls: str, *, lazily: bool) -> str:
    """The docstring of ``cls.from_container_url``."""
    listed = "listed as it is iterated" if lazily else "listed now with the List Blobs API"
    request = (
        "\nNo request is sent until the dataset is iterated, so a container that does\n"
        "not exist is reported then.\n"
        if lazily
        else ""
    )
    empty = "a dataset that yields nothing" if lazily else "an empty dataset"
    not_found = "" if lazily else ":raises BlobNotFoundError: if the container does not exist.\n"
    iterating = (
        "\nIterating raises :class:`~azstoragetorch.exceptions.BlobNotFoundError` if\n"
        "the container does not exist.\n"
        if lazily
        else ""
    )
    options = _ITERATION_OPTIONS if lazily else ""
    bad_options = _BAD_ITERATION_OPTIONS if lazily else ""
    return f"""\
A dataset of the blobs in a container, {listed}.

::

    dataset = {cls}.from_container_url(
        "https://<account>.blob.core.windows.net/<container>"
    )
{request}
:param container_url: The container's URL. A SAS token in its query string
    is used for the listing and for every blob.
:param prefix: Only blobs whose names start with it become samples, e.g.
    ``"images/"`` for a virtual directory. All blobs when not given.
    Directory markers of accounts with a hierarchical namespace are never
    samples.
{_CREDENTIAL}
:param transform: Called with each :class:`Blob` to make its sample; see
    :class:`Blob`. {_SAMPLE}
{_CACHE}
{options}:returns: The dataset, in listing order (by blob name). An empty container
    or a prefix that matches nothing gives {empty}.
{not_found}:raises ValueError: for a URL that does not name a container (or names a
    blob: use ``prefix``), or a token credential over ``http``.
:raises TypeError: for arguments of the wrong type.
{_BAD_CACHE}{bad_options}{iterating}"""


def from_blob_urls_doc(cls: str, *, lazily: bool) -> str:
    """The docstring of ``cls.from_blob_urls``."""
    request = "" if lazily else "\nNo request is sent until a sample is read.\n"
    options = _SAME_ITERATION_OPTIONS if lazily else ""
    bad_options = _BAD_ITERATION_OPTIONS if lazily else ""
    return f"""\
A dataset of the given blobs, in the given order.

::

    container_url = "https://<account>.blob.core.windows.net/<container>"
    dataset = {cls}.from_blob_urls(
        [f"{{container_url}}/<blob-1>", f"{{container_url}}/<blob-2>"]
    )
{request}
:param blob_urls: One blob URL, or any iterable of them (a generator is read
    once, now). A SAS token, ``snapshot`` or ``versionid`` in a URL's query
    string is honoured for that blob. The blobs may live in different
    containers and accounts.
:param credential: As for :meth:`from_container_url`; ignored for URLs that
    carry a SAS token.
:param options: As for :meth:`from_container_url`.
:param transform: Called with each :class:`Blob` to make its sample.
    {_SAMPLE}
{_URL_CACHE}
{options}:returns: The dataset.
:raises TypeError: if ``blob_urls`` holds something other than a str (the
    message says which element), or for arguments of the wrong type.
:raises ValueError: for a URL that names no blob (saying which element).
{_BAD_CACHE}{bad_options}"""
