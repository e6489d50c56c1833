"""Write ``docs/performance.rst`` from a run's table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_PAGE = """\
.. This page is written by ``python3 tools/dev.py hatch run bench`` (tools/bench/).
   Edit tools/bench/docs.py rather than this file; the next full run replaces it.

Performance
===========

How fast :class:`~azstoragetorch.io.BlobIO` moves checkpoints and the datasets
deliver samples, compared with the upstream ``azstoragetorch`` 0.2.0 release from PyPI
and with the limits of the same storage: ``curl`` moving the same bytes, raw
keep-alive GETs of the same blobs, and ``ContainerClient.list_blobs``, and with
``torch.load`` of a checkpoint of many small tensors from memory; how distributed
checkpoints (:doc:`distributed-checkpoints`) compare with one ``BlobIO`` and with
torch's own local-disk storage; and what ``import azstoragetorch.io`` costs. Run the
comparison yourself with:

.. code-block:: console

    python3 tools/dev.py hatch run bench            # full mode, rewrites this page
    python3 tools/dev.py hatch run bench --quick    # a quarter of the sizes, prints only
    python3 tools/dev.py hatch run bench --quick --parts io,dcp   # only some parts

To tell whether a change to ``BlobIO`` made it faster, compare it with an earlier
revision in the same minutes (this machine's speed drifts too much between runs):

.. code-block:: console

    python3 tools/dev.py hatch run python -m tools.bench.compare --base HEAD~1

How it is measured
------------------

* One command runs everything against one Azurite instance started by the test rig
  (``tools/azurite.py``), on the same machine, in the same run.
* Upstream is installed once into ``.benchmarks/upstream-venv`` (``azstoragetorch==0.2.0``
  with the same torch) and runs only with that environment's Python; ours runs with
  the development environment's Python. Each repetition of each scenario is a fresh
  process, started in isolated mode, which checks where ``azstoragetorch.io`` was
  imported from.
* The data is made locally and uploaded with ``azure-storage-blob``, so reading
  scenarios never depend on the code under test. Both libraries and curl reach the
  blobs through the same container SAS in the URL, so they pay the same
  authorisation cost.
* The timed part is opening the ``BlobIO``, the work, and ``close()`` (for a save,
  ``close()`` commits the blob). Building the tensors to save, interpreter start-up
  and imports are not timed. Throughput is the bytes of the blob divided by that time.
* Peak memory is the growth of the process's peak resident set size over the timed
  part: the kernel's high-water mark (``VmHWM``) is reset just before timing starts and
  read right after. For scenarios that keep what they read (``torch.load``,
  ``read()``), the growth includes the result itself, so about 1x the blob size is
  the floor; the ratio is shown next to it.
* The limit is curl on the same machine: a GET of the random blob to ``/dev/null`` and
  one Put Blob of the same bytes from a local file, timed by curl itself. For the
  checkpoint of many small tensors it is ``torch.load`` of that checkpoint from an
  ``io.BytesIO`` in a fresh process (the blob read into memory first, untimed):
  loading 50 KiB tensors is bound by ``torch.load``'s own work per tensor, and this
  shows how fast it goes with no storage at all.
* Each cell shows the median over the repetitions and, in brackets, the slowest and
  fastest. Ratios divide medians. When upstream measured a smaller checkpoint (it pays
  a cost per tensor that would take minutes at full size), its size is given in
  brackets and the ratio still compares throughputs.
* Azurite is a single Node.js process on the same cores as the client, so absolute
  numbers say as much about the emulator and the machine as about the library; the
  ratios, measured side by side, are the point. Against Azure Storage, throughput is
  bounded by the network instead.
* The datasets are read through a ``DataLoader`` (``batch_size=64``, 0 or 2 worker
  processes) over a container of 16 KiB blobs, with every sample's size checked.
  Their CPU column is the client's user and system time per sample, DataLoader
  workers included, plus the Azurite process's CPU time per sample over the same
  loop: the two share the machine's cores, so their sum bounds the rate.
* "Cores busy" is CPU time over the timed part divided by its wall time: for
  Azurite, all its threads, then its main thread alone; for the client, its whole
  process. Azurite answers every request on that main thread (Node's JavaScript
  event loop) and reads files and hashes on others, so the process can pass 1 while
  the request thread still has room. A request thread busy 0.9 or more means the
  emulator set the rate; client and Azurite together near the core count mean the
  machine's CPU did. Under the checkpoint table a note says which, for a missed
  target where the figures show it; under the datasets table, for a missed target
  whose run kept the request thread that busy. The datasets' raw GET limit from two
  processes is the highest rate of bare GETs measured, with the request thread's
  busy share beside it.
* Import cost is ``import azstoragetorch.io`` timed inside a fresh isolated
  interpreter, several times.

Results
-------

{summary}

{machine}

{table}

{notes}
{sections}"""


def render(
    *,
    date: str,
    summary: str,
    machine: list[tuple[str, str]],
    table: str,
    notes: list[str],
    sections: Sequence[tuple[str, str, list[str]]] = (),
) -> str:
    """The whole page; ``sections`` are further (title, RST table, notes) after the first."""
    machine_lines = "\n".join(f"* {label}: {value}" for label, value in machine)
    extra = "".join(
        f"\n{title}\n{'-' * len(title)}\n\n{body}\n\n" + _bullets(section_notes) + "\n"
        for title, body, section_notes in sections
    )
    return _PAGE.format(
        summary=f"Measured on {date}. {summary}",
        machine=machine_lines,
        table=table,
        notes=_bullets(notes),
        sections=extra,
    )


def _bullets(notes: list[str]) -> str:
    return "\n".join(f"* {escape(note)}" for note in notes)


def escape(text: str) -> str:
    """Make free text (an error message, say) inert in RST: no markup, no references."""
    for special in ("\\", "*", "`", "_", "|"):
        text = text.replace(special, "\\" + special)
    return " ".join(text.split())


def write(path: Path, page: str) -> None:
    """Replace the page."""
    path.write_text(page)
