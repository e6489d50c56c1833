"""Write the results part of the performance page from a run's tables.

The page's prose lives in ``docs/performance.rst``, edited by hand; it includes
``docs/_generated/performance-results.rst``, which only this module writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_HEADER = """\
.. Written by ``python3 tools/dev.py hatch run bench`` (tools/bench/docs.py); do not edit.
   The prose around these tables is docs/performance.rst.

"""


def render(
    *,
    date: str,
    summary: str,
    machine: list[tuple[str, str]],
    table: str,
    notes: list[str],
    sections: Sequence[tuple[str, str, list[str]]] = (),
) -> str:
    """The included results file: when and where it was measured, the checkpoint table
    with its notes, then ``sections``, further (title, RST table, notes)."""
    machine_lines = "\n".join(f"* {label}: {value}" for label, value in machine)
    extra = "".join(
        f"\n{title}\n{'-' * len(title)}\n\n{body}\n\n" + _bullets(section_notes) + "\n"
        for title, body, section_notes in sections
    )
    return (
        f"{_HEADER}Measured on {date}. {summary}\n\n{machine_lines}\n\n{table}\n\n"
        f"{_bullets(notes)}\n{extra}"
    )


def _bullets(notes: list[str]) -> str:
    return "\n".join(f"* {escape(note)}" for note in notes)


def escape(text: str) -> str:
    """Make free text (an error message, say) inert in RST: no markup, no references."""
    for special in ("\\", "*", "`", "_", "|"):
        text = text.replace(special, "\\" + special)
    return " ".join(text.split())


def write(path: Path, results: str) -> None:
    """Replace the results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results)
