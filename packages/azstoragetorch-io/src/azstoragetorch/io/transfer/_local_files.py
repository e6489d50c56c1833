"""The local side of a transfer: walking a tree, and mapping blob names to paths.

Walking follows symbolic links, as users expect of a folder of data, and refuses
a link that leads back to one of its own ancestors (a loop would never end).
Blob names become local paths only if every part is an ordinary name: ``..``,
``.``, empty parts and absolute names are refused, and the final path must stay
inside the target directory even through symbolic links already there.
"""

from __future__ import annotations

import base64
import dataclasses
import errno
import fnmatch
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "LocalFile",
    "PathFilter",
    "Snapshot",
    "file_md5",
    "inside",
    "local_path_for",
    "scan_tree",
    "snapshot",
]


@dataclasses.dataclass(frozen=True)
class LocalFile:
    """A file found in a tree: its path and its relative POSIX name."""

    path: Path
    relative: str
    size: int


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What tells one version of a file from another, without reading it."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


def snapshot(stat: os.stat_result) -> Snapshot:
    return Snapshot(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


class PathFilter:
    """``include``/``exclude`` glob patterns matched against relative POSIX names.

    A name is kept if it matches any ``include`` pattern (all names when there are
    none) and no ``exclude`` pattern. ``*`` matches across ``/`` too, so ``*.png``
    keeps PNGs at any depth.
    """

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        for pattern in (*include, *exclude):
            if not isinstance(pattern, str):
                raise TypeError(f"include/exclude patterns must be str, not {pattern!r}.")
        self._include = tuple(include)
        self._exclude = tuple(exclude)

    def keeps(self, name: str) -> bool:
        if self._include and not any(fnmatch.fnmatchcase(name, p) for p in self._include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self._exclude)


def scan_tree(root: Path, keep: PathFilter) -> tuple[list[LocalFile], list[tuple[str, str]]]:
    """The regular files under ``root`` (sorted by name) and the entries that are not.

    The second list holds ``(relative name, reason)`` for entries that cannot be
    uploaded, such as broken links or sockets.

    :raises OSError: with ``errno.ELOOP`` for a symbolic link loop, naming it.
    """
    files: list[LocalFile] = []
    problems: list[tuple[str, str]] = []
    root_stat = root.stat()
    _walk(root, "", {(root_stat.st_dev, root_stat.st_ino): ""}, keep, files, problems)
    files.sort(key=lambda found: found.relative)
    return files, problems


def _walk(
    directory: Path,
    prefix: str,
    ancestors: dict[tuple[int, int], str],
    keep: PathFilter,
    files: list[LocalFile],
    problems: list[tuple[str, str]],
) -> None:
    with os.scandir(directory) as entries:
        listed = sorted(entries, key=lambda entry: entry.name)
    for entry in listed:
        relative = f"{prefix}{entry.name}"
        path = Path(entry.path)
        try:
            stat = os.stat(path)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise _loop_error(path, relative) from None
            if entry.is_symlink():
                problems.append((relative, "a broken symbolic link"))
            else:
                problems.append((relative, f"cannot read it: {error.strerror}"))
            continue
        if os.path.isdir(path):
            key = (stat.st_dev, stat.st_ino)
            if key in ancestors:
                raise _loop_error(path, relative, ancestors[key])
            _walk(path, f"{relative}/", {**ancestors, key: relative}, keep, files, problems)
        elif os.path.isfile(path):
            if keep.keeps(relative):
                files.append(LocalFile(path, relative, stat.st_size))
        elif keep.keeps(relative):
            problems.append((relative, "not a regular file"))


def _loop_error(path: Path, relative: str, ancestor: str | None = None) -> OSError:
    target = f"its ancestor '{ancestor or '.'}'" if ancestor is not None else "itself"
    return OSError(
        errno.ELOOP,
        f"Symbolic link loop in the source tree: '{relative}' leads back to {target}. "
        "Remove the link, or exclude it with an exclude pattern",
        str(path),
    )


def local_path_for(root: Path, relative: str) -> Path:
    """Where the blob named ``relative`` (below the prefix) goes under ``root``.

    :raises ValueError: if the name is not a safe relative path: absolute, empty,
        with ``.``, ``..`` or empty parts, or with a NUL; or if it would land
        outside ``root`` through a symbolic link already there.
    """
    if not relative or relative.startswith("/") or "\x00" in relative:
        raise ValueError(f"the blob name {relative!r} is not a relative path")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(
            f"the blob name {relative!r} has an empty, '.' or '..' part; it is refused so "
            "that nothing is written outside the target directory"
        )
    if os.sep != "/" and any(os.sep in part or (os.altsep and os.altsep in part) for part in parts):
        raise ValueError(f"the blob name {relative!r} holds a path separator of this system")
    destination = root.joinpath(*parts)
    if os.path.isabs(parts[0]) or Path(parts[0]).drive:
        raise ValueError(f"the blob name {relative!r} is an absolute path here")
    return destination


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``'s real location is inside ``root``'s (links resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def file_md5(path: Path) -> str:
    """The base64 MD5 of the file's content, as a blob's ``Content-MD5`` holds it."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(8 * 1024 * 1024):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")
