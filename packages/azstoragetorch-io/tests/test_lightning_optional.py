"""Lightning stays optional: never imported by azstoragetorch.io, asked for when missing."""

import subprocess
import sys

HIDE_LIGHTNING = """
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pytorch_lightning", "lightning_fabric", "lightning"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""


def run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_importing_azstoragetorch_io_imports_no_lightning():
    result = run(
        "import sys, azstoragetorch.io\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytorch_lightning', 'lightning_fabric', 'lightning', 'fsspec')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_plugin_without_lightning_raises_module_not_found_naming_the_install_command():
    result = run(
        HIDE_LIGHTNING
        + "import azstoragetorch.io\n"
        + "try:\n"
        + "    from azstoragetorch.io.lightning import BlobCheckpointIO\n"
        + "except ModuleNotFoundError as error:\n"
        + "    print(type(error).__name__, error.name, '|', error)\n"
    )
    assert result.returncode == 0, result.stderr
    kind, name, _, message = result.stdout.strip().split(" ", 3)
    assert kind == "ModuleNotFoundError"
    assert name == "lightning_fabric"
    assert 'pip install "azstoragetorch-io[lightning]"' in message
