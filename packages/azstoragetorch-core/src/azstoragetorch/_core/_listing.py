"""Listing the blobs of a container with the List Blobs REST API, page by page.

Each page is one ``GET <container>?restype=container&comp=list`` of up to 5,000
names, answered as XML that is parsed with the standard library's C parser; the
next page is asked for with the ``NextMarker`` of the previous one. Only what the
datasets need is kept of each blob: its name and the four properties every
listing carries (size, ETag, last modification time and content type).

Accounts with a hierarchical namespace (Data Lake Storage) list their directories
as empty blobs marked with the metadata ``hdi_isfolder=true``; the listing asks for
metadata and leaves those markers out, so virtual and real directories look alike:
plain prefixes of blob names.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import NamedTuple

from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpRequest

from azstoragetorch._core._blob_client import DEFAULT_OPTIONS, BlobProperties, run
from azstoragetorch._core._credentials import UsedCredential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.options import ClientOptions

__all__ = [
    "PAGE_SIZE",
    "ListedBlob",
    "ListedFields",
    "iter_level_pages",
    "iter_pages",
    "listed_properties",
    "parse_level_page",
    "parse_page",
]

# The most names the service returns in one page.
PAGE_SIZE = 5000


class ListedBlob(NamedTuple):
    """One blob as a listing describes it.

    ``etag`` has the quotes of the ``ETag`` header (a listing gives it without
    them), so it compares equal to what a read of the blob reports.
    ``last_modified`` is the RFC 1123 text the service sent. ``content_md5`` is the
    blob's base64 ``Content-MD5``, if it has one.
    """

    name: str
    size: int
    etag: str
    last_modified: str | None
    content_type: str | None
    content_md5: str | None = None


# A listed blob's fields as a plain tuple: what datasets keep, because pickling
# plain tuples to DataLoader workers is several times quicker than named ones.
ListedFields = tuple[str, int, str, str | None, str | None, str | None]


def listed_properties(listed: ListedFields) -> BlobProperties:
    """The properties of a listed blob (a ``ListedBlob`` or its plain tuple), as a
    read of it would report them."""
    _, size, etag, last_modified, content_type, _ = listed
    return BlobProperties(size, etag, last_modified, content_type)


def iter_pages(
    container: BlobURL,
    pipeline: Pipeline,  # type: ignore[type-arg]
    credential: UsedCredential,
    *,
    prefix: str | None = None,
    options: ClientOptions = DEFAULT_OPTIONS,
    page_size: int = PAGE_SIZE,
) -> Iterator[list[ListedBlob]]:
    """Yield the blobs of ``container`` whose names start with ``prefix``, a page at a time.

    Names come in the service's order (sorted by name). A page may be empty while
    more follow, so callers must not stop at an empty page. Requests are sent only
    as the generator is advanced; a SAS in ``container``'s query is sent with each.

    :raises BlobNotFoundError: if the container does not exist (``error_code``
        ``"ContainerNotFound"``); the message names the container.
    :raises BlobServiceError: for any other refusal, after retries.
    """
    for blobs, _ in iter_level_pages(
        container, pipeline, credential, prefix=prefix, options=options, page_size=page_size
    ):
        yield blobs


def iter_level_pages(
    container: BlobURL,
    pipeline: Pipeline,  # type: ignore[type-arg]
    credential: UsedCredential,
    *,
    prefix: str | None = None,
    delimiter: str | None = None,
    options: ClientOptions = DEFAULT_OPTIONS,
    page_size: int = PAGE_SIZE,
) -> Iterator[tuple[list[ListedBlob], list[str]]]:
    """Like :func:`iter_pages`, with the virtual sub-folders of each page.

    With a ``delimiter``, names that go on past it after ``prefix`` are rolled up
    into their common prefix (ending with the delimiter), listed in the second
    list; without one, that list is empty and the listing is recursive.
    """
    base = f"{container.container_url}?restype=container&comp=list&include=metadata"
    base += f"&maxresults={page_size}"
    if prefix:
        base += f"&prefix={urllib.parse.quote(prefix, safe='')}"
    if delimiter:
        base += f"&delimiter={urllib.parse.quote(delimiter, safe='')}"
    sas_query = container.sas_query
    what = f"container '{container.container_url}'"
    marker: str | None = None
    while True:
        url = base if marker is None else f"{base}&marker={urllib.parse.quote(marker, safe='')}"
        if sas_query:
            url = f"{url}&{sas_query}"
        response, _ = run(pipeline, HttpRequest("GET", url), what, credential, options)
        blobs, prefixes, marker = parse_level_page(response.body())
        yield blobs, prefixes
        if not marker:
            return


def parse_page(body: bytes) -> tuple[list[ListedBlob], str | None]:
    """The blobs of one List Blobs response body and the marker of the next page."""
    blobs, _, marker = parse_level_page(body)
    return blobs, marker


def parse_level_page(body: bytes) -> tuple[list[ListedBlob], list[str], str | None]:
    """The blobs, the rolled-up prefixes and the next marker of one response body."""
    root = ET.fromstring(body)
    blobs: list[ListedBlob] = []
    prefixes: list[str] = []
    # Blobs of a page often share their content type and modification time: reuse
    # one string object for each, which keeps large listings smaller in memory and
    # quicker to pickle.
    shared: dict[str, str] = {}
    container = root.find("Blobs")
    for element in () if container is None else container:
        if element.tag == "BlobPrefix":
            name = element.find("Name")
            if name is not None and name.text:
                text = name.text
                if name.get("Encoded") == "true":
                    text = urllib.parse.unquote(text)
                prefixes.append(text)
            continue
        if element.tag != "Blob":
            continue
        listed = _parse_blob(element, shared)
        if listed is not None:
            blobs.append(listed)
    return blobs, prefixes, root.findtext("NextMarker") or None


def _parse_blob(element: ET.Element, shared: dict[str, str]) -> ListedBlob | None:
    """One ``<Blob>``; ``None`` for a directory marker."""
    name = ""
    size = 0
    etag = ""
    last_modified: str | None = None
    content_type: str | None = None
    content_md5: str | None = None
    # One pass over the children, testing tags by hand: several times quicker than
    # a find() per field on pages of thousands of blobs.
    for child in element:
        tag = child.tag
        if tag == "Name":
            name = child.text or ""
            if child.get("Encoded") == "true":
                # Names with characters XML cannot carry arrive percent-encoded.
                name = urllib.parse.unquote(name)
        elif tag == "Properties":
            for field in child:
                text = field.text
                ftag = field.tag
                if ftag == "Content-Length":
                    size = int(text or 0)
                elif ftag == "Etag":
                    etag = text or ""
                elif ftag == "Last-Modified":
                    last_modified = shared.setdefault(text, text) if text else None
                elif ftag == "Content-Type":
                    content_type = shared.setdefault(text, text) if text else None
                elif ftag == "Content-MD5":
                    content_md5 = text or None
                elif ftag == "ResourceType" and text == "directory":
                    return None
        elif tag == "Metadata" and _is_directory_marker(child):
            return None
    if etag and not etag.startswith('"'):
        etag = f'"{etag}"'
    return ListedBlob(name, size, etag, last_modified, content_type, content_md5)


def _is_directory_marker(metadata: ET.Element) -> bool:
    for entry in metadata:
        if entry.tag.lower() == "hdi_isfolder":
            return (entry.text or "").strip().lower() == "true"
    return False
