"""The demo behind the README's first command: ``python3 tools/dev.py demo``.

See ``__main__.py`` for what it does and its options.
"""
