"""Mid-epoch resume: the small state of a dataset's progress, and checking it on load.

torchdata's ``StatefulDataLoader`` calls ``state_dict()`` on the dataset in every
DataLoader worker (or in the main process without workers) after each batch, and
``load_state_dict()`` with that worker's state before the resumed iteration starts.

An iterable dataset's state says where this worker's share of the epoch got to: the
epoch, how many samples of the share were yielded, and a digest chained over their
names. It never holds the listing, so its size does not grow with the container. On
resume the share is listed again and the yielded samples are skipped as listing
entries, without reading them; the digest of the skipped ones must match, or the
listing has changed under the resume point and the resume is refused.

Both datasets' states name the dataset they came from (its container and prefix, or
a hash of its blob URLs without their query strings, so never a SAS token), so a
state cannot be loaded into a dataset over other blobs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from azstoragetorch.datasets._blob import Blob
from azstoragetorch.datasets._sources import BlobURLs, ContainerListing, ListedBlobs

__all__ = [
    "ITERABLE_KIND",
    "MAP_KIND",
    "Progress",
    "check_state",
    "dataset_identity",
    "field",
    "skip_yielded",
]

ITERABLE_KIND = "IterableBlobDataset"
MAP_KIND = "BlobDataset"
# The format of the states; a state of another version is refused.
_VERSION = 1
_DIGEST_BYTES = 16


@dataclasses.dataclass
class Progress:
    """How far one worker's share of one epoch has been yielded."""

    epoch: int
    count: int = 0
    digest: bytes = b""

    def note(self, blob: Blob) -> None:
        """Count ``blob`` as yielded, chaining its container and name into the digest."""
        # The names as parsed, not the quoted URL: skipping a million entries on
        # resume hashes each one, so this stays cheap.
        key = f"{blob.container_name}/{blob.blob_name}".encode()
        chained = hashlib.sha256(self.digest + key)
        self.digest = chained.digest()[:_DIGEST_BYTES]
        self.count += 1


def skip_yielded(blobs: Iterator[Blob], target: Progress) -> None:
    """Advance ``blobs`` past the ``target.count`` samples yielded before the resume.

    Only listing entries are consumed: no skipped blob is read.

    :raises ValueError: if the share now starts with other blobs than those yielded
        before (blobs were added or deleted before the resume point, or, when
        shuffled, anywhere the shuffle had read up to there).
    """
    seen = Progress(target.epoch)
    for blob in itertools.islice(blobs, target.count):
        seen.note(blob)
    if seen.count != target.count or seen.digest != target.digest:
        raise ValueError(
            f"Cannot resume epoch {target.epoch}: the container's listing changed since "
            f"the state was saved, and the {target.count} samples this worker had "
            "yielded are no longer the first of its share. Blobs were added or deleted "
            "before the resume point (or, with shuffle=True, among the entries the "
            "shuffle buffer had read by then). Start the epoch over: create the "
            "DataLoader without loading this state."
        )


def dataset_identity(blobs: Iterable[Blob]) -> str:
    """What a state records of the dataset's blobs; never a SAS token.

    A lazily listed container is named by its URL and prefix. A list of blob URLs,
    or a listing made at creation, by a hash of every blob's URL without its query.
    """
    if isinstance(blobs, ContainerListing):
        prefix = f" with prefix {blobs.prefix!r}" if blobs.prefix else ""
        return f"the container {blobs.container.container_url}{prefix}"
    digest = hashlib.sha256()
    count = 0
    if isinstance(blobs, ListedBlobs):
        base = blobs.container.container_url.encode()
        for entry in blobs.entries():
            digest.update(base + b"/" + entry[0].encode() + b"\n")
            count += 1
    elif isinstance(blobs, BlobURLs):
        for url in blobs.entries():
            digest.update(url.split("?", 1)[0].encode() + b"\n")
            count += 1
    else:
        for blob in blobs:
            digest.update(blob.url.encode() + b"\n")
            count += 1
    return f"{count} blobs with URL hash {digest.hexdigest()[:32]}"


def check_state(state: object, kind: str, identity: str) -> Mapping[str, Any]:
    """Check that ``state`` is a ``kind`` dataset's state over the same blobs.

    :raises TypeError: if ``state`` is not a dict.
    :raises ValueError: if it is not a state of ``kind`` in this version, or was
        saved from a dataset over other blobs.
    """
    if not isinstance(state, Mapping):
        raise TypeError(
            f"state_dict must be a dict returned by {kind}.state_dict(), "
            f"not {type(state).__name__}."
        )
    saved_kind = state.get("azstoragetorch")
    if saved_kind != kind:
        saved = (
            f"a state of {_a(saved_kind)}"
            if saved_kind in (ITERABLE_KIND, MAP_KIND)
            else "not a state saved by azstoragetorch"
        )
        raise ValueError(
            f"This is {saved}, not of {_a(kind)}: load the state that this kind of "
            "dataset saved, e.g. the StatefulDataLoader state of a loader over it."
        )
    if state.get("version") != _VERSION:
        raise ValueError(
            f"This {kind} state has format version {state.get('version')!r}; this "
            f"version of azstoragetorch reads version {_VERSION} only."
        )
    saved_identity = field(state, "dataset", str)
    if saved_identity != identity:
        raise ValueError(
            f"This state was saved from {_a(kind)} over {saved_identity}, and cannot be "
            f"loaded into one over {identity}: create the dataset over the same blobs "
            "as the one whose state was saved."
        )
    return state


def field(state: Mapping[str, Any], name: str, kind: type[Any]) -> Any:
    """``state[name]``, which must be a ``kind`` (an int is never a bool here)."""
    if name not in state:
        raise ValueError(f"The state has no {name!r}: pass a state returned by state_dict().")
    value = state[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(
            f"The state's {name!r} must be {_a(kind.__name__)}, not {type(value).__name__}: "
            "pass a state returned by state_dict()."
        )
    return value


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "AEIOUaeiou" else f"a {noun}"
