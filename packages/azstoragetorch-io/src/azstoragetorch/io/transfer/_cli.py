"""The ``azstoragetorch`` console script: ``upload``, ``download`` and ``ls``.

Exit status: 0 when everything was transferred or skipped, 1 when a file failed
(each is named on stderr) or the transfer could not run, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.credentials import ConnectionString
from azstoragetorch.exceptions import AZStorageTorchError
from azstoragetorch.io.transfer._download import run_download
from azstoragetorch.io.transfer._list_blobs import list_blobs
from azstoragetorch.io.transfer._local_files import PathFilter
from azstoragetorch.io.transfer._settings import DEFAULT_SETTINGS
from azstoragetorch.io.transfer._summary import (
    OVERWRITE_CHOICES,
    ProgressCallback,
    TransferSummary,
)
from azstoragetorch.io.transfer._upload import run_upload

__all__ = ["main"]

PROG = "azstoragetorch"
CONNECTION_STRING_VARIABLE = "AZURE_STORAGE_CONNECTION_STRING"
_URL_HELP = (
    "A blob, prefix or container URL (a SAS in it is used), or, with "
    f"{CONNECTION_STRING_VARIABLE} set, <container>[/<path>]."
)
_CREDENTIALS = f"""
credentials: a SAS in the URL; else the account of {CONNECTION_STRING_VARIABLE}, if set
(account key, SAS or the emulator's UseDevelopmentStorage=true); else
DefaultAzureCredential (az login, managed identity, environment variables).
--anonymous sends no credential, for public containers."""

_UPLOAD_EXAMPLE = f"""example:
  {PROG} upload --recursive ./digits \\
      https://myaccount.blob.core.windows.net/datasets/digits/
{_CREDENTIALS}"""
_DOWNLOAD_EXAMPLE = f"""example:
  {PROG} download https://myaccount.blob.core.windows.net/models/resnet50.pt ./model.pt
  {PROG} download --recursive --include '*.png' \\
      https://myaccount.blob.core.windows.net/datasets/digits/ ./digits
{_CREDENTIALS}"""
_LS_EXAMPLE = f"""example:
  {PROG} ls https://myaccount.blob.core.windows.net/datasets/digits/
  AZURE_STORAGE_CONNECTION_STRING='UseDevelopmentStorage=true' {PROG} ls -r datasets
{_CREDENTIALS}"""


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit status 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, ValueError, TypeError) as error:
        parser.exit(2, f"{PROG}: error: {error}\n")
    except (OSError, AZStorageTorchError) as error:
        print(f"{PROG}: error: {_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no file or blob was left half-written.", file=sys.stderr)
        return 130


def _message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and not isinstance(error, AZStorageTorchError):
        where = (
            f": '{error.filename}'"
            if error.filename and error.filename not in str(error.strerror)
            else ""
        )
        return f"{error.strerror}{where}"
    return str(error)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Upload, download and list blobs in Azure Blob Storage.",
        epilog=f"Run '{PROG} <command> --help' for a command's options and an example.",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="<command>")
    upload = _command(commands, "upload", "Upload a file or a directory tree.", _UPLOAD_EXAMPLE)
    upload.add_argument("local_path", help="The file or directory to upload.")
    upload.add_argument("url", help=_URL_HELP)
    upload.add_argument(
        "--content-type", help="The blobs' content type (default: guessed from the extension)."
    )
    _transfer_options(upload, "upload a directory tree")
    upload.set_defaults(run=_upload)
    download = _command(
        commands, "download", "Download a blob, or a prefix as a tree.", _DOWNLOAD_EXAMPLE
    )
    download.add_argument("url", help=_URL_HELP)
    download.add_argument("local_path", help="The file or directory to write.")
    _transfer_options(download, "download every blob under a prefix")
    download.set_defaults(run=_download)
    ls = _command(commands, "ls", "List blobs and folders under a prefix.", _LS_EXAMPLE)
    ls.add_argument("url", help=_URL_HELP)
    ls.add_argument(
        "-r", "--recursive", action="store_true", help="List every blob, not one level."
    )
    ls.add_argument("--anonymous", action="store_true", help="Send no credential.")
    ls.set_defaults(run=_ls)
    return parser


def _command(commands: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _transfer_options(parser: argparse.ArgumentParser, recursive: str) -> None:
    parser.add_argument("-r", "--recursive", action="store_true", help=f"Needed to {recursive}.")
    parser.add_argument(
        "--overwrite",
        choices=OVERWRITE_CHOICES,
        default="if-changed",
        help="When to replace what is there: always, never, or if-changed (the default: "
        "when the size or MD5 differs).",
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=16, help="Files in flight at once (16)."
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="Only paths matching GLOB (repeatable; '*' matches across '/').",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="Leave out GLOB."
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="Show what would be transferred; change nothing."
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="No progress bar and no summary."
    )
    parser.add_argument("--anonymous", action="store_true", help="Send no credential.")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# -- where and as whom ----------------------------------------------------------------


def _remote(text: str, anonymous: bool) -> tuple[str, Credential]:
    """The URL and credential for a command line's remote argument."""
    raw = os.environ.get(CONNECTION_STRING_VARIABLE, "").strip()
    connection = ConnectionString.parse(raw) if raw else None
    if text.lower().startswith(("https://", "http://")):
        url = text
        credential: Credential = None
        if connection is not None:
            endpoint = BlobURL.parse(connection.url("x")).account_url
            if BlobURL.parse(url).account_url == endpoint:
                credential = connection.credential
    elif connection is None:
        raise UsageError(
            f"'{text}' is not a URL: give https://<account>.blob.core.windows.net/<container>"
            f"[/<path>], or set {CONNECTION_STRING_VARIABLE} to name containers alone."
        )
    else:
        container, _, path = text.partition("/")
        if not container:
            raise UsageError(f"'{text}' names no container: use <container>[/<path>].")
        url = connection.url(container, path or None)
        credential = connection.credential
    return url, (False if anonymous else credential)


# -- commands -------------------------------------------------------------------------


def _upload(args: argparse.Namespace) -> int:
    if os.path.isdir(args.local_path) and not args.recursive:
        raise UsageError(
            f"'{args.local_path}' is a directory: add --recursive to upload everything in it."
        )
    url, credential = _remote(args.url, args.anonymous)
    with _Progress(args.quiet, "upload") as progress:
        summary = run_upload(
            args.local_path,
            url,
            credential=credential,
            overwrite=args.overwrite,
            concurrency=args.concurrency,
            content_type=args.content_type,
            keep=PathFilter(args.include, args.exclude),
            dry_run=args.dry_run,
            progress=progress.callback,
            settings=DEFAULT_SETTINGS,
        )
    return _report(summary, "upload", "Uploaded", args.quiet)


def _download(args: argparse.Namespace) -> int:
    url, credential = _remote(args.url, args.anonymous)
    with _Progress(args.quiet, "download") as progress:
        summary = run_download(
            url,
            args.local_path,
            credential=credential,
            overwrite=args.overwrite,
            concurrency=args.concurrency,
            keep=PathFilter(args.include, args.exclude),
            dry_run=args.dry_run,
            progress=progress.callback,
            settings=DEFAULT_SETTINGS,
            tree=args.recursive,
        )
    return _report(summary, "download", "Downloaded", args.quiet)


def _ls(args: argparse.Namespace) -> int:
    url, credential = _remote(args.url, args.anonymous)
    delimiter = None if args.recursive else "/"
    out = sys.stdout
    for entry in list_blobs(url, delimiter=delimiter, credential=credential):
        if entry.is_folder:
            out.write(f"{'PRE':>12}  {'':19}  {entry.name}\n")
        else:
            when = entry.last_modified.strftime("%Y-%m-%d %H:%M:%S") if entry.last_modified else ""
            out.write(f"{entry.size:>12}  {when:19}  {entry.name}\n")
    return 0


def _report(summary: TransferSummary, verb: str, done: str, quiet: bool) -> int:
    if summary.dry_run:
        for destination in summary.transferred:
            print(f"would {verb}: {destination}")
    for failure in summary.failed:
        print(
            f"{PROG}: failed: {failure.source} -> {failure.destination}: {failure.reason}",
            file=sys.stderr,
        )
    if not quiet:
        what = "Would transfer" if summary.dry_run else done
        print(
            f"{what} {len(summary.transferred)} files ({_size(summary.bytes_transferred)}); "
            f"skipped {len(summary.skipped)} unchanged; failed {len(summary.failed)}.",
            file=sys.stderr,
        )
    return 0 if summary.ok else 1


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


class _Progress:
    """A tqdm bar of bytes with the file count beside it, on a terminal only."""

    def __init__(self, quiet: bool, verb: str, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._show = not quiet and self._stream.isatty()
        self._verb = verb
        self._bar: Any = None
        self.callback: ProgressCallback | None = self._update if self._show else None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def _update(self, bytes_done: int, bytes_total: int, files_done: int, files_total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm  # only a terminal needs it

            self._bar = tqdm(
                total=bytes_total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=self._verb,
                file=self._stream,
                dynamic_ncols=True,
            )
        self._bar.update(bytes_done - self._bar.n)
        self._bar.set_postfix_str(f"{files_done}/{files_total} files", refresh=False)
