"""Helpers shared by the settings dataclasses (sampler, relaxation, inpainting, training).

A settings dataclass owns every default and unit of what it configures; its docstring's
``Attributes`` section is the one description of each field. These helpers read it back:

* :func:`strict_from_dict`: build the dataclass from a mapping; unknown keys and bad
  values are errors of the form ``"<Class>.<field> = <value>: <reason>"``;
* :func:`reject_unknown`: the one unknown-field check (every ``from_dict`` and the
  configuration readers use it);
* :func:`field_help`: field -> first sentence of its description (for command-line help);
* :func:`check_int`: the shared integer check.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from chggen_kernels.errors import InputError

__all__ = ["SettingsError", "check_int", "field_help", "reject_unknown", "strict_from_dict"]

T = TypeVar("T")


class SettingsError(InputError):
    """A settings value is unusable; the message is ``"<field> = <value>: <reason>"``."""


def check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    """Raise ``ValueError("<owner>.<name> must be an integer >= <minimum>, got ...")``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def reject_unknown(values: Mapping[str, Any], known: Sequence[str], where: str,
                   error: type[Exception] | None = None, sep: str = ".") -> None:
    """Raise ``error`` (default :class:`SettingsError`) ``"<where><sep><key> = <value>:
    unknown field (known: a, b, ...)"`` for the first key of ``values`` (sorted) not in
    ``known``."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise (error or SettingsError)(
            f"{where}{sep}{unknown[0]} = {values[unknown[0]]!r}: unknown field "
            f"(known: {', '.join(known)})")


def strict_from_dict(cls: type[T], values: Mapping[str, Any], where: str | None = None) -> T:
    """``cls(**values)`` with one-line errors naming the field and the value.

    ``where`` prefixes field names in messages (e.g. ``"sampler"`` gives
    ``"sampler.n_levels = 0: ..."``); by default the class name is used.
    """
    prefix = where if where is not None else cls.__name__
    if not isinstance(values, Mapping):
        raise SettingsError(f"{prefix} = {values!r}: expected a mapping of field values")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    reject_unknown(values, names, prefix)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        field = next((n for n in names if re.search(rf"\b{re.escape(n)}\b", text)), None)
        if field is None or field not in values:
            raise SettingsError(f"{prefix}: {text}") from None
        reason = re.sub(rf"^{re.escape(cls.__name__)}\.{re.escape(field)}\s*", "", text)
        raise SettingsError(f"{prefix}.{field} = {values[field]!r}: {reason}") from None


def field_help(cls: type) -> dict[str, str]:
    """Field name -> its description from the class docstring's ``Attributes`` section
    (Google ``name: text`` or NumPy ``name`` / indented text), whitespace collapsed."""
    doc = inspect.getdoc(cls) or ""
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().rstrip(":") ==
                     "Attributes")
    except StopIteration:
        return out
    current: str | None = None
    for line in lines[start + 1:]:
        stripped = line.strip()
        if set(stripped) <= {"-"} and stripped:
            continue
        match = re.match(r"^\s{0,4}(\w+)\s*:\s*(.*)$", line)
        if match and match.group(1) in names:
            current = match.group(1)
            out[current] = match.group(2)
            continue
        if stripped in names and len(line) - len(line.lstrip()) <= 4:
            current = stripped
            out[current] = ""
            continue
        if current is not None and stripped:
            out[current] = f"{out[current]} {stripped}".strip()
        elif current is not None and not stripped and out[current]:
            current = None
    return out
