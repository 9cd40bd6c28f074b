"""The one sanitiser for terminal output: every CLI line or table cell that can carry text from
mail or Bugzilla goes through :func:`inert`.

Strings are stored as received (the store keeps evidence, not a cleaned copy); only their
display is made inert. A bug summary holding ``ESC]0;...`` would retitle the terminal and
``ESC[2J`` clear it; a bidi override (U+202E) would show text in another order than it is
read; a bare CR would overwrite the line. Each such character is shown as its escape
(``\\u001b``), which is also valid inside a JSON string, so JSON output can go through the same
function.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich loads with the first table cell, not with every command's start-up
    from rich.text import Text

# C0 controls (TAB and LF kept in running text), DEL, C1 controls, the bidi embeddings,
# overrides, isolates and marks, line/paragraph separators and the BOM.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\u2028\u2029\ufeff]")
_UNSAFE_IN_CELL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                             "\u2066-\u2069\u2028\u2029\ufeff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def inert(value: object, *, one_line: bool = False) -> str:
    """``value`` as text a terminal shows and does not obey. ``one_line``: newlines and tabs
    are escaped too (a table cell, a log field)."""
    text = value if isinstance(value, str) else str(value)
    return (_UNSAFE_IN_CELL if one_line else _UNSAFE).sub(_escape, text)


def cell(value: object) -> Text:
    """A rich table cell: inert, one line, and never read as rich markup (``[red]``)."""
    from rich.text import Text

    return Text(inert(value, one_line=True))
