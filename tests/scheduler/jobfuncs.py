"""Job functions the scheduler tests store by reference."""

from pathlib import Path


def append_line(path: str, text: str) -> None:
    with Path(path).open("a") as f:
        f.write(text + "\n")
