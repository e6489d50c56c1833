"""The blob client shared by every azstoragetorch object.

One azure-core pipeline per (endpoint, credential): the user agent, the storage API
version, a client request ID checked on every response, retries with exponential
backoff for transient failures, the credential's policy, and HTTP logging that
redacts secrets. Requests go through the process-local connection pool.

The operations are the few REST calls the library needs, written against the
pipeline directly so the hot paths (ranged reads into a caller's buffer, block
uploads from a caller's buffer) copy as little as possible.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from typing import Any, NoReturn

from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceResponseError
from azure.core.pipeline import Pipeline, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import (
    HeadersPolicy,
    HttpLoggingPolicy,
    RequestIdPolicy,
    RetryMode,
    RetryPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpRequest, HttpResponse

from azstoragetorch._core._body import BODY_ERRORS, BodyReader
from azstoragetorch._core._credentials import (
    Credential,
    UsedCredential,
    auth_policy,
    used_credential,
)
from azstoragetorch._core._errors import (
    raise_credential_error,
    raise_for_response,
    raise_transport_error,
)
from azstoragetorch._core._shared_transport import ProcessLocalTransport
from azstoragetorch._core._url import BlobURL
from azstoragetorch._core._version import __version__
from azstoragetorch.exceptions import BlobNotFoundError, ClientRequestIdMismatchError
from azstoragetorch.options import ClientOptions

__all__ = [
    "DEFAULT_OPTIONS",
    "BlobClient",
    "BlobProperties",
    "backoff",
    "build_pipeline",
    "content_md5",
    "properties_from_headers",
    "run",
    "transport_options",
]

API_VERSION = "2025-01-05"
USER_AGENT = f"azstoragetorch/{__version__}"
_CLIENT_REQUEST_ID = "x-ms-client-request-id"


DEFAULT_OPTIONS = ClientOptions()


class _RequestIdCheckPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Refuses a response that echoes another request's client request ID."""

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        sent = request.http_request.headers.get(_CLIENT_REQUEST_ID)
        echoed = response.http_response.headers.get(_CLIENT_REQUEST_ID)
        if sent and echoed and sent != echoed:
            raise ClientRequestIdMismatchError(
                sent, echoed, response.http_response.headers.get("x-ms-request-id", "")
            )


def build_pipeline(
    url: BlobURL, credential: Credential, options: ClientOptions = DEFAULT_OPTIONS
) -> Pipeline:  # type: ignore[type-arg]
    """The pipeline for requests to ``url``'s account with ``credential``."""
    policies: list[Any] = [
        RequestIdPolicy(),
        HeadersPolicy({"x-ms-version": API_VERSION}),
        UserAgentPolicy(base_user_agent=USER_AGENT),
        RetryPolicy(
            retry_total=options.max_retries,
            retry_backoff_factor=options.retry_backoff,
            retry_backoff_max=options.retry_backoff_max,
            retry_mode=RetryMode.Exponential,
        ),
    ]
    policy = auth_policy(credential, url)
    if policy is not None:
        policies.append(policy)
    policies += [_RequestIdCheckPolicy(), HttpLoggingPolicy()]
    return Pipeline(transport=ProcessLocalTransport(), policies=policies)


@dataclasses.dataclass(frozen=True)
class BlobProperties:
    """What a blob's headers say about it."""

    size: int
    etag: str
    last_modified: str | None
    content_type: str | None


def properties_from_headers(headers: Any) -> BlobProperties:
    """The blob's properties from a HEAD or GET response's headers.

    A ranged GET's ``Content-Length`` is the range's; the blob's size is the total
    after the slash of ``Content-Range`` ("bytes 0-99/1234").
    """
    content_range = headers.get("Content-Range")
    size = content_range.rsplit("/", 1)[1] if content_range else headers.get("Content-Length")
    return BlobProperties(
        size=int(size or 0),
        etag=headers.get("ETag", ""),
        last_modified=headers.get("Last-Modified"),
        content_type=headers.get("Content-Type"),
    )


def run(
    pipeline: Pipeline,  # type: ignore[type-arg]
    request: HttpRequest,
    what: str,
    credential: UsedCredential,
    options: ClientOptions = DEFAULT_OPTIONS,
    *,
    stream: bool = False,
    retries: int | None = None,
) -> tuple[HttpResponse, int]:
    """Run ``request`` through ``pipeline``; failures become azstoragetorch errors.

    Returns the response and how many retries the retry policy spent on it. Without
    ``stream`` the body is read whole before this returns; with it, only the short
    body of a refusal is.

    :param what: Names the target for messages, e.g. "blob 'https://…/c/b'"; it
        must come from a URL without its query.
    :param credential: The credential the pipeline uses, named in permission errors.
    :param retries: The most retries allowed for this request; ``None``: the
        options' ``max_retries``.
    """
    kwargs = transport_options(options)
    if retries is not None:
        kwargs["retry_total"] = retries
    try:
        result = pipeline.run(request, stream=stream, **kwargs)
    except ClientAuthenticationError as error:
        raise_credential_error(error, what, credential)
    except AzureError as error:
        raise_transport_error(error, what)
    response: HttpResponse = result.http_response
    if response.status_code >= 400:
        if stream:
            # Reading the short error body keeps the connection reusable.
            response.body()
        raise_for_response(response, what, credential)
    # RetryPolicy leaves one history entry per retry it made.
    return response, len(result.context.get("history") or ())


def content_md5(data: bytes | bytearray | memoryview) -> str:
    """The base64 MD5 the service checks a body against (hashlib frees the GIL)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


class BlobClient:
    """Requests for one blob, through a shared pipeline."""

    def __init__(
        self,
        url: BlobURL,
        pipeline: Pipeline,  # type: ignore[type-arg]
        options: ClientOptions,
        credential: UsedCredential,
    ) -> None:
        url.require_blob()
        self.url = url
        self._pipeline = pipeline
        self._options = options
        self._credential = credential
        self._what = f"blob '{url.url}'"

    @classmethod
    def create(
        cls, url: BlobURL, credential: Credential, options: ClientOptions = DEFAULT_OPTIONS
    ) -> BlobClient:
        return cls(
            url,
            build_pipeline(url, credential, options),
            options,
            used_credential(credential, url),
        )

    def __repr__(self) -> str:
        return f"BlobClient({self.url!r})"

    # -- plumbing -----------------------------------------------------------------

    def _send(
        self,
        method: str,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        body: Any = None,
        stream: bool = False,
        retries: int | None = None,
    ) -> tuple[HttpResponse, int]:
        """The response, and how many retries the retry policy spent on it.

        :param retries: The most retries allowed for this request; ``None``: the
            options' ``max_retries``.
        """
        url = self.url.request_url()
        if query:
            url += ("&" if "?" in url else "?") + query
        request = HttpRequest(method, url, headers=headers or {})
        if body is not None:
            request.set_bytes_body(body)
        return run(
            self._pipeline,
            request,
            self._what,
            self._credential,
            self._options,
            stream=stream,
            retries=retries,
        )

    # -- reading ------------------------------------------------------------------

    def get_properties(self) -> BlobProperties:
        return properties_from_headers(self._send("HEAD")[0].headers)

    def open_range(self, start: int, end: int | None, etag: str | None) -> HttpResponse:
        """A streamed GET of bytes ``start`` to ``end`` (inclusive), of version ``etag``.

        ``end=None`` with ``start=0`` asks for the whole blob (no range header, which
        also works for an empty blob, where any range is refused).
        """
        return self._range(start, end, etag)[0]

    def open_if_changed(self, etag: str) -> HttpResponse | None:
        """A streamed GET of the whole blob, unless its ETag is still ``etag``.

        One conditional request (``If-None-Match``): ``None`` when the service
        answers 304 Not Modified, else the response of the blob as it is now.
        """
        response, _ = self._send("GET", headers={"If-None-Match": etag}, stream=True)
        if response.status_code == 304:
            # The empty body is read so that the connection goes back to the pool.
            response.body()
            return None
        return response

    def _range(
        self, start: int, end: int | None, etag: str | None, retries: int | None = None
    ) -> tuple[HttpResponse, int]:
        headers = {}
        if end is not None or start:
            headers["x-ms-range"] = f"bytes={start}-{'' if end is None else end}"
        if etag:
            headers["If-Match"] = etag
        return self._send("GET", headers=headers, stream=True, retries=retries)

    def read_into(self, start: int, destination: memoryview, etag: str) -> None:
        """Fill ``destination`` with the blob's bytes from ``start``, of version ``etag``.

        A body that breaks off (connection reset, truncated transfer) is resumed
        from the first byte not yet received. The whole read shares one retry budget,
        the options' ``max_retries``: the retry policy's retries of each GET and each
        resumption count against it, so a read makes at most ``max_retries + 1``
        attempts however its failures mix (see ``docs/reliability.rst``).
        """
        filled = 0
        spent = 0  # retries of this read so far, by the policy or by resuming
        budget = self._options.max_retries
        end = start + len(destination) - 1
        while filled < len(destination):
            response, retried = self._range(start + filled, end, etag, budget - spent)
            spent += retried
            body = BodyReader(response)
            try:
                filled += body.readinto(destination[filled:])
            except BODY_ERRORS as error:
                body.discard()
                filled += getattr(error, "bytes_received", 0)
                if spent >= budget:
                    self._raise_body_error(error)
                spent += 1
                time.sleep(backoff(self._options, spent))
            else:
                body.release()

    def _raise_body_error(self, error: BaseException) -> NoReturn:
        if not isinstance(error, AzureError):
            error = ServiceResponseError(f"{type(error).__name__}: {error}", error=error)
        raise_transport_error(error, self._what)

    # -- writing ------------------------------------------------------------------

    def put_blob(
        self,
        data: bytes | bytearray | memoryview,
        md5: str,
        *,
        create_only: bool = False,
        content_type: str = "application/octet-stream",
    ) -> None:
        """Upload ``data`` as the whole blob in one request, checked against ``md5``.

        The service also keeps ``md5`` as the blob's ``Content-MD5``. With
        ``create_only``, the service refuses (409 ``BlobAlreadyExists``) if the blob
        exists.
        """
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "Content-MD5": md5,
            "Content-Type": content_type,
        }
        if create_only:
            headers["If-None-Match"] = "*"
        self._send("PUT", headers=headers, body=data)

    def put_block(self, block_id: str, data: bytes | bytearray | memoryview, md5: str) -> None:
        """Stage one block, checked against ``md5``; invisible until committed."""
        self._send(
            "PUT",
            query=f"comp=block&blockid={_quote_block_id(block_id)}",
            headers={"Content-MD5": md5},
            body=data,
        )

    def put_block_list(
        self,
        block_ids: list[str],
        *,
        create_only: bool = False,
        content_type: str = "application/octet-stream",
        blob_md5: str | None = None,
    ) -> None:
        """Commit the staged blocks, in order, as the blob's new content.

        With ``create_only``, the service refuses (409 ``BlobAlreadyExists``) if the
        blob exists. ``blob_md5`` (base64) is stored as the whole blob's
        ``Content-MD5``, which the service does not compute for block lists.
        """
        body = "".join(f"<Latest>{block_id}</Latest>" for block_id in block_ids)
        payload = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{body}</BlockList>'.encode()
        headers = {
            "Content-MD5": content_md5(payload),
            "Content-Type": "application/xml",
            "x-ms-blob-content-type": content_type,
        }
        if blob_md5 is not None:
            headers["x-ms-blob-content-md5"] = blob_md5
        if create_only:
            headers["If-None-Match"] = "*"
        self._send("PUT", query="comp=blocklist", headers=headers, body=payload)

    # -- deleting -----------------------------------------------------------------

    def delete(self) -> bool:
        """Delete the blob with its snapshots; ``False`` if there was nothing to delete.

        A missing blob (or container) is not an error: deleting is idempotent.
        """
        try:
            self._send("DELETE", headers={"x-ms-delete-snapshots": "include"})
        except BlobNotFoundError:
            return False
        return True


def backoff(options: ClientOptions, retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (from 1), as RetryPolicy waits."""
    return float(min(options.retry_backoff * 2 ** (retry - 1), options.retry_backoff_max))


def transport_options(options: ClientOptions) -> dict[str, Any]:
    """The per-request settings the transport takes from ``options``."""
    return {
        "connection_timeout": options.connect_timeout,
        "read_timeout": options.read_timeout,
        "max_connections_per_host": options.max_connections_per_host,
    }


def _quote_block_id(block_id: str) -> str:
    # Block IDs are base64, whose "+", "/" and "=" must be escaped in a query.
    return block_id.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
