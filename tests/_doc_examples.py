"""Finds the Python examples in the documentation: rst pages, README, docstrings.

In reStructuredText, a literal block introduced by a paragraph ending in ``::`` or
by ``.. code-block:: python`` is a Python example; ``.. code-block:: <other>`` (text,
console) is not. In Markdown, a fenced block marked ``python`` is.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass

_CODE_BLOCK = re.compile(r"^\s*\.\. code-block::\s*(\S*)\s*$")


@dataclass(frozen=True)
class Example:
    """One code block: where it is and its source, dedented."""

    line: int
    code: str


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_examples(text: str) -> list[Example]:
    """The Python literal blocks of a reStructuredText text, in order."""
    lines = text.splitlines()
    examples = []
    for number, line in enumerate(lines):
        directive = _CODE_BLOCK.match(line)
        if directive:
            if directive.group(1) not in ("python", "python3", "py"):
                continue
        elif not line.rstrip().endswith("::") or line.lstrip().startswith(".."):
            continue
        base = _indent(line)
        start = number + 1
        # Skip a directive's options and the blank line before the block.
        while start < len(lines) and (
            not lines[start].strip() or (directive and lines[start].strip().startswith(":"))
        ):
            start += 1
        end = start
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
            end += 1
        block = "\n".join(lines[start:end])
        if block.strip() and _indent(lines[start]) > base:
            examples.append(Example(start + 1, textwrap.dedent(block).strip() + "\n"))
    return examples


def markdown_examples(text: str) -> list[Example]:
    """The fenced ``python`` blocks of a Markdown text, in order."""
    examples, block, start = [], None, 0
    for number, line in enumerate(text.splitlines()):
        if block is None and line.strip() == "```python":
            block, start = [], number + 2
        elif block is not None and line.strip() == "```":
            examples.append(Example(start, "\n".join(block) + "\n"))
            block = None
        elif block is not None:
            block.append(line)
    return examples


def docstring_examples(obj: object) -> list[Example]:
    """The Python examples in the docstring of ``obj`` and of its public members."""
    examples = rst_examples(inspect.getdoc(obj) or "")
    if inspect.isclass(obj):
        for name, member in vars(obj).items():
            if name.startswith("_"):
                continue
            function = getattr(member, "__func__", member)
            examples.extend(rst_examples(inspect.getdoc(function) or ""))
    return examples
