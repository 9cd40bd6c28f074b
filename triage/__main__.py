"""``python -m triage``: the same as the ``xentriage`` command."""

from triage.cli import main

main()
