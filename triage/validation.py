"""One validator for every input file: the configuration, the matrix, workers.json, farm.json
and the rules' ``[rules.<name>]`` tables.

Each file's shape is a plain stdlib ``@dataclass`` (typed fields with defaults); pydantic 2
validates the file against it with ``extra="forbid"`` and strict types, and the first error
becomes the caller's own exception naming the dotted key (``safety.change_cap``,
``platform[2].symbols``) with a short message, plus "did you mean ...?" for a misspelt key.

Why JSON mode: TOML and JSON documents are validated as JSON would be (``validate_json`` with
``strict=True``), so a string is never coerced to an integer, ``true`` never passes as 1, and a
path or tuple is still written as a string or a list. A TOML date/time value, which JSON has
no form for, is handed over as an object and so fails wherever a string or number is expected.

Constraints are declared next to the fields with :class:`Range` and :class:`Matches`
(``Annotated[int, Range(0)]``); a new section of plain fields validates with no extra code.
pydantic is imported only when a file is validated (the CLI starts without it).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ErrorFactory = Callable[[str, str], Exception]

# Good enough to catch "a bot e-mail that is not an address" (a name, a typo'd "@"), without
# pretending to implement RFC 5322: local@domain.tld, no spaces.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


# --- constraints (pydantic reads them through __get_pydantic_core_schema__) --------------------


@dataclass(frozen=True)
class Range:
    """A number within bounds: ``Range(1, 65535)``, ``Range(0)``, ``Range(above=0)``."""

    min: float | None = None
    max: float | None = None
    above: float | None = None  # exclusive lower bound (timeouts: > 0)

    def describe(self) -> str:
        if self.above is not None:
            return f"must be > {_num(self.above)}"
        if self.min is not None and self.max is not None:
            return f"must be {_num(self.min)}..{_num(self.max)}"
        if self.min is not None:
            return f"must be >= {_num(self.min)}"
        return f"must be <= {_num(self.max or 0)}"

    def check(self, value: Any) -> Any:
        ok = ((self.min is None or value >= self.min) and (self.max is None or value <= self.max)
              and (self.above is None or value > self.above))
        if not ok:
            raise ValueError(self.describe())
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))


@dataclass(frozen=True)
class Matches:
    """A string matching ``pattern``; ``what`` says what it must be ("an email address")."""

    pattern: str
    what: str
    allow_empty: bool = False

    def check(self, value: Any) -> Any:
        if (value == "" and self.allow_empty) or re.match(self.pattern, value):
            return value
        raise ValueError(f"{value!r} is not {self.what}" if value else f"must be {self.what}")

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))


Email = typing.Annotated[str, Matches(EMAIL_PATTERN, "an email address")]
OptionalEmail = typing.Annotated[str, Matches(EMAIL_PATTERN, "an email address",
                                              allow_empty=True)]
Port = typing.Annotated[int, Range(1, 65535)]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- validation --------------------------------------------------------------------------------


def validate(tp: Any, data: Any, *, prefix: str, error: ErrorFactory,
             unknown: str = "unknown key") -> Any:
    """``data`` (a TOML/JSON document or table) as an instance of ``tp``, or ``error(key, msg)``."""
    return validate_json(tp, json.dumps(data, default=_json_default), prefix=prefix,
                         error=error, unknown=unknown)


def validate_json(tp: Any, raw: str | bytes, *, prefix: str, error: ErrorFactory,
                  unknown: str = "unknown key") -> Any:
    """Like :func:`validate` for a JSON text (workers.json, farm.json): one pass, one error."""
    from pydantic import ValidationError

    try:
        return _adapter(tp).validate_json(raw, strict=True)
    except ValidationError as exc:
        key, message = describe_error(tp, exc.errors(include_url=False), unknown)
        raise error(join_key(prefix, key), message) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.time):
        return {"toml date/time": value.isoformat()}
    raise TypeError(f"cannot validate a {type(value).__name__}")  # pragma: no cover


@functools.cache
def _adapter(tp: Any) -> Any:
    from pydantic import ConfigDict, TypeAdapter

    config = ConfigDict(extra="forbid", strict=True)
    for cls in _dataclasses_in(tp):
        # A stdlib dataclass carries its pydantic config as this attribute (pydantic's
        # `with_config`); set here so the sections stay plain dataclasses.
        if "__pydantic_config__" not in cls.__dict__:
            setattr(cls, "__pydantic_config__", config)  # noqa: B010
    return TypeAdapter(tp)


def _dataclasses_in(tp: Any, seen: set[int] | None = None) -> list[type]:
    """Every dataclass reachable from ``tp`` through field types and type arguments."""
    seen = set() if seen is None else seen
    if id(tp) in seen:
        return []
    seen.add(id(tp))
    out: list[type] = []
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        out.append(tp)
        for hint in _hints(tp).values():
            out += _dataclasses_in(hint, seen)
    for arg in typing.get_args(tp):
        out += _dataclasses_in(arg, seen)
    return out


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def join_key(prefix: str, key: str) -> str:
    if not key:
        return prefix
    if not prefix or key.startswith("["):
        return prefix + key
    return f"{prefix}.{key}"


def loc_key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "frozen_set_type": "must be a list",
    "dict_type": "must be a table",
    "dataclass_type": "must be a table",
    "dataclass_exact_type": "must be a table",
    "model_type": "must be a table",
    "missing": "is required",
    "missing_argument": "is required",
    "path_type": "must be a path string",
    "none_required": "must not be set",
}


def describe_error(tp: Any, errors: Sequence[Mapping[str, Any]], unknown: str) -> tuple[str, str]:
    """(dotted key relative to the document, message) for the first of pydantic's errors."""
    err = errors[0]
    loc, tagged = strip_union_tags(tp, tuple(err["loc"]))
    kind = err["type"]
    key = loc_key(loc)
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = known_fields(tp, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        message = unknown + (f" (did you mean {hint[0]!r}?)" if hint else "")
        if known and not hint:
            message += f" (known here: {', '.join(known)})"
        return key, message
    if kind == "value_error":
        return key, str(err.get("ctx", {}).get("error", err["msg"]))
    if kind == "json_invalid":
        return key, f"not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}"
    if kind == "too_short":
        return key, "at least one entry is required"
    if kind not in _MESSAGES:
        return key, str(err["msg"]).lower()
    message = _MESSAGES[kind]
    if kind in ("missing", "missing_argument", "none_required"):
        return key, message
    if tagged:
        # `str | int | bool`: pydantic reports each branch; say them in one message.
        kinds = [e["type"] for e in errors if strip_union_tags(tp, tuple(e["loc"]))[0] == loc]
        wanted = [_MESSAGES[k].removeprefix("must be ") for k in kinds if k in _MESSAGES]
        message = "must be " + " or ".join(dict.fromkeys(wanted))
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if isinstance(value, dict) and "toml date/time" in value:
        shown = f"the date/time {value['toml date/time']}"
    return key, f"{message}, not {shown}"


def strip_union_tags(tp: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    """``loc`` without the branch names pydantic adds inside a union (``a.X.str``), and
    whether there was one."""
    out: list[Any] = []
    current: Any = tp
    tagged = False
    for part in loc:
        current = unwrap(current)
        if part == "[key]":  # the error is in a table's key, not its value
            continue
        if typing.get_origin(current) in (typing.Union, types.UnionType):
            tagged, current = True, Any  # this part names a branch, not a key
            continue
        out.append(part)
        current = _child(current, part)
    return tuple(out), tagged


def _child(tp: Any, part: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        return _hints(typing.cast(type, tp)).get(part, Any)
    if typing.get_origin(tp) in (list, tuple, dict, set, frozenset):
        args = typing.get_args(tp)
        return args[-1] if args and args[-1] is not Ellipsis else (args[0] if args else Any)
    return Any


def known_fields(tp: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the dataclass found at ``loc`` inside ``tp`` ([] if none)."""
    current = unwrap(tp)
    for part in loc:
        current = unwrap(_child(current, part))
    if not dataclasses.is_dataclass(current):
        return []
    return sorted(f.name for f in dataclasses.fields(current)
                  if not f.metadata.get("internal"))


def unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp
