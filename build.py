"""Run the command line from a checkout: `python3 build.py COMMAND`.

Outside the project's virtual environment (made by `make build`), this starts the same
command again with `.venv/bin/python`, so the documented commands work without activating it.
"""

import os
import sys
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parent / ".venv" / "bin" / "python"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_PYTHON.parent.parent.resolve()


if not _in_venv() and VENV_PYTHON.exists():
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])

try:
    from nyhetsbrev.cli import cli
except ImportError as e:
    sys.exit(f"build.py: {e.name} saknas. Kör först `make build`, som installerar allt i .venv.")

cli()
