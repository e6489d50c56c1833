"""Shared test setup: the plugins of the functional tests.

The helpers in tests/ and the rig in tools/ are on ``sys.path`` through pytest's
``pythonpath`` setting (in the root ``pyproject.toml``).
"""

pytest_plugins = ["_azurite_plugin", "_recording", "_fixtures", "_many_blobs"]
