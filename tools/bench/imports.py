"""What ``import azstoragetorch.io`` costs in a fresh interpreter, ours and upstream's.

A serving container that loads a checkpoint pays this at every start. Besides the
time, the table says whether the import pulled in ``torch`` and ``azure.identity``:
a process that never uses the default credential should not pay for the latter.
"""

from __future__ import annotations

import statistics

from .plan import IMPLEMENTATIONS, Implementation
from .runner import Interpreter, run_json

_PROBE = """
import json, sys, time
started = time.perf_counter()
import azstoragetorch.io
seconds = time.perf_counter() - started
print(json.dumps({
    "seconds": seconds,
    "torch": "torch" in sys.modules,
    "identity": "azure.identity" in sys.modules,
    "module": azstoragetorch.io.__file__,
}))
"""

HEADER = ("implementation", "import azstoragetorch.io, ms median (min-max)", "imports torch",
          "imports azure.identity")  # fmt: skip


def measure(interpreters: dict[Implementation, Interpreter], reps: int) -> list[tuple[str, ...]]:
    """One row per implementation, each import in a new isolated interpreter."""
    rows: list[tuple[str, ...]] = []
    for who in IMPLEMENTATIONS:
        interpreter = interpreters[who]
        times, found = [], {}
        for _ in range(reps):
            found = run_json(interpreter, ["-c", _PROBE], timeout=120)
            times.append(float(found["seconds"]) * 1000)
        rows.append((
            who,
            f"{statistics.median(times):.0f} ({min(times):.0f}-{max(times):.0f})",
            "yes" if found["torch"] else "no",
            "yes" if found["identity"] else "no",
        ))  # fmt: skip
        print(f"import azstoragetorch.io  {who:<8} {statistics.median(times):6.0f} ms", flush=True)
    return rows
