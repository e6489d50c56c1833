"""The version shared by every azstoragetorch distribution (rewritten by tools/versions.py)."""

__version__ = "0.1.0.dev0"
