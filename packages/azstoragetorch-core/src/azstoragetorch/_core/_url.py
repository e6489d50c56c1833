"""One value type for blob and container URLs.

Which part of a URL names the account decides how the rest is read:

* **Path-style** when the host is an IP address (``127.0.0.1``, ``[::1]``, any other)
  or ``localhost``: the path is ``/<account>/<container>/<blob name>``. This is how
  Azurite and other emulators are addressed.
* **Host-style** for every other host: the path is ``/<container>/<blob name>``. This
  covers ``<account>.blob.core.windows.net``, sovereign clouds, private-link hosts,
  DNS-zone endpoints (``<account>.z12.blob.storage.azure.net``), Azurite's
  ``<account>.blob.localhost`` form and custom domains. The account name is the
  host's first label when a later label is ``blob``; for a custom domain it is unknown
  (``None``) and nothing needs it.

Blob names are percent-decoded once when parsed and quoted again when a request URL
is built, so any name (spaces, unicode, ``%``, ``#``, ``?``, ``+``, ``//``) survives
the trip. The query string is kept as the raw text the user gave, parameter by
parameter: a SAS is recognised by its ``sig`` parameter, ``snapshot`` and
``versionid`` select what to read, and anything else passes through untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import urllib.parse

__all__ = ["BlobURL"]

# Characters left unescaped in a blob's path: "/" separates virtual directories and
# must stay literal, "~" is unreserved. Everything else is percent-encoded.
_PATH_SAFE = "/~"
_SAS_KEY = "sig"
_SNAPSHOT_KEY = "snapshot"
_VERSION_KEY = "versionid"


@dataclasses.dataclass(frozen=True)
class BlobURL:
    """A parsed blob or container URL.

    Use :meth:`parse`; the fields are the decoded parts. ``query`` holds the raw
    ``key=value`` pieces of the query string in their original order and encoding.
    """

    scheme: str
    netloc: str
    account: str | None
    path_style: bool
    container: str | None
    blob_name: str | None
    query: tuple[str, ...] = ()

    @classmethod
    def parse(cls, url: str) -> BlobURL:
        """Parse ``url``; raises ``ValueError`` saying what is wrong with it."""
        if not isinstance(url, str):
            raise TypeError(f"A blob URL must be a str, not {type(url).__name__}.")
        try:
            parts = urllib.parse.urlsplit(url.strip())
        except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced "[" or "]"
            raise ValueError(f"The URL {_describe(url)} has an invalid host: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            shown = f"'{parts.scheme}'" if parts.scheme else "no scheme"
            raise ValueError(
                f"Unsupported URL scheme ({shown}) in {_describe(url)}: use "
                "https://<account>.blob.core.windows.net/<container>/<blob>, or http:// "
                "for a local emulator such as Azurite."
            )
        try:
            hostname = parts.hostname
        except ValueError as exc:  # an unbalanced "[" in the host
            raise ValueError(f"The URL {_describe(url)} has an invalid host: {exc}") from None
        if not hostname:
            raise ValueError(f"The URL {_describe(url)} has no host name.")
        if parts.fragment:
            raise ValueError(
                f"The URL {_describe(url)} has a fragment ('#...'). A '#' in a blob "
                "name must be percent-encoded as %23."
            )
        path_style = _is_path_style_host(hostname)
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if path_style:
            account_part, _, path = path.partition("/")
            account: str | None = urllib.parse.unquote(account_part) or None
            if account is None:
                raise ValueError(
                    f"The emulator-style URL {_describe(url)} names no account: use "
                    "http://<host>:<port>/<account>/<container>/<blob>."
                )
        else:
            account = _account_from_host(hostname)
        container_part, slash, blob_part = path.partition("/")
        container = urllib.parse.unquote(container_part) or None
        blob_name = urllib.parse.unquote(blob_part) if slash and blob_part else None
        query = tuple(piece for piece in parts.query.split("&") if piece)
        return cls(
            scheme=scheme,
            netloc=parts.netloc.lower(),
            account=account,
            path_style=path_style,
            container=container,
            blob_name=blob_name,
            query=query,
        )

    # -- what the URL holds -------------------------------------------------------

    # The derived values below are computed on first use and kept: a dataset asks
    # for them once per sample. (``cached_property`` stores into the instance's
    # ``__dict__`` directly, which a frozen dataclass allows; equality, hashing and
    # ``dataclasses.replace`` see the fields only.)

    @functools.cached_property
    def _params(self) -> tuple[tuple[str, str], ...]:
        """The query's (decoded, lower-cased key, raw value) pairs, in order.

        Values are decoded only when asked for (:meth:`_param`): a container SAS
        copied to every blob of a dataset is never decoded piece by piece.
        """
        pairs = []
        for piece in self.query:
            key, _, value = piece.partition("=")
            if "%" in key:
                key = urllib.parse.unquote(key)
            pairs.append((key.lower(), value))
        return tuple(pairs)

    def _param(self, name: str) -> str | None:
        """The decoded value of the first query parameter ``name``, if any."""
        for key, value in self._params:
            if key == name:
                return urllib.parse.unquote(value)
        return None

    @functools.cached_property
    def has_sas(self) -> bool:
        """Whether the query string carries a SAS token (recognised by ``sig``)."""
        return any(key == _SAS_KEY for key, _ in self._params)

    @functools.cached_property
    def snapshot(self) -> str | None:
        """The ``snapshot`` the URL selects, if any."""
        return self._param(_SNAPSHOT_KEY)

    @functools.cached_property
    def version_id(self) -> str | None:
        """The ``versionid`` the URL selects, if any."""
        return self._param(_VERSION_KEY)

    @functools.cached_property
    def sas_query(self) -> str:
        """The raw query string without ``snapshot`` and ``versionid``.

        This is what applies to every blob of a container: a SAS and any parameters
        the user added. Empty when the URL has no query.
        """
        return "&".join(
            piece
            for piece, (key, _) in zip(self.query, self._params, strict=True)
            if key not in (_SNAPSHOT_KEY, _VERSION_KEY)
        )

    # -- URLs built from it -------------------------------------------------------

    @functools.cached_property
    def account_url(self) -> str:
        """The service endpoint: ``scheme://host[/account]``."""
        base = f"{self.scheme}://{self.netloc}"
        if self.path_style:
            return f"{base}/{urllib.parse.quote(self.account or '', safe='')}"
        return base

    @functools.cached_property
    def container_url(self) -> str:
        """The container's URL, without any query. Needs a container."""
        container = self.require_container()
        return f"{self.account_url}/{urllib.parse.quote(container, safe='')}"

    @functools.cached_property
    def url(self) -> str:
        """The URL without any query string: safe to show to users.

        For a blob this is the container URL, ``/`` and the quoted blob name; for a
        container URL it is the container URL.
        """
        if self.blob_name is None:
            return self.container_url
        return f"{self.container_url}/{urllib.parse.quote(self.blob_name, safe=_PATH_SAFE)}"

    def request_url(self) -> str:
        """The URL to send requests to, with the full original query (SAS included).

        Never show this to users; show :attr:`url`.
        """
        return self._request_url

    @functools.cached_property
    def _request_url(self) -> str:
        return f"{self.url}?{'&'.join(self.query)}" if self.query else self.url

    def __getstate__(self) -> dict[str, object]:
        # Pickle the fields only: the cached strings are derived from them, would
        # make every pickled sample or dataset carry them, and are rebuilt on use.
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def blob(self, blob_name: str) -> BlobURL:
        """The URL of ``blob_name`` in this URL's container.

        Keeps the SAS and other parameters that apply to the whole container; drops
        ``snapshot`` and ``versionid``, which select one blob's data.
        """
        self.require_container()
        blob = dataclasses.replace(self, blob_name=blob_name, query=self._container_query)
        # The container part is the same: share it rather than quote it again. And
        # the query was just stripped of what selects a snapshot or version.
        blob.__dict__["container_url"] = self.container_url
        blob.__dict__["snapshot"] = blob.__dict__["version_id"] = None
        return blob

    @functools.cached_property
    def _container_query(self) -> tuple[str, ...]:
        sas_query = self.sas_query
        return tuple(sas_query.split("&")) if sas_query else ()

    # -- checks -------------------------------------------------------------------

    def require_container(self) -> str:
        """The container name, or ``ValueError`` if the URL names none."""
        if self.container is None:
            raise ValueError(
                f"The URL {self.account_url} names no container: use "
                f"{self.account_url}/<container>."
            )
        return self.container

    def require_current(self, what: str) -> None:
        """``ValueError`` if the URL selects a snapshot or a version.

        :param what: What needs current blobs, for the message, e.g. "A checkpoint
            location".
        """
        if self.snapshot or self.version_id:
            raise ValueError(
                f"{what} cannot select a snapshot or version ({self!r}): remove "
                "'snapshot'/'versionid' from the URL."
            )

    def require_blob(self) -> str:
        """The blob name, or ``ValueError`` if the URL names no blob."""
        container = self.require_container()
        if self.blob_name is None:
            raise ValueError(
                f"The URL {self.container_url} names a container but no blob: use "
                f"{self.account_url}/{container}/<blob name>."
            )
        return self.blob_name

    def __repr__(self) -> str:
        shown = self.url if self.container is not None else self.account_url
        extras = "".join(
            f", {name}={value!r}"
            for name, value in (("snapshot", self.snapshot), ("version_id", self.version_id))
            if value is not None
        )
        sas = ", sas=<redacted>" if self.has_sas else ""
        return f"BlobURL({shown!r}{extras}{sas})"

    __str__ = __repr__


def _is_path_style_host(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _account_from_host(hostname: str) -> str | None:
    first, *rest = hostname.split(".")
    return first if "blob" in rest else None


def _describe(url: str) -> str:
    """Show a URL that failed to parse without its query string, which may hold a SAS."""
    shown = url.strip().split("?", 1)[0].split("#", 1)[0]
    return f"'{shown}'"
