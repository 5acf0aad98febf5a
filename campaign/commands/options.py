"""Command-line options built from the settings dataclasses of the kernels.

Each option's type, default and help come from its dataclass field (the docstring's
``Attributes`` entry, :func:`chggen_kernels.settings.field_help`), so a default is defined
once, where the thing it configures lives. Options default to ``None`` ("not given"), and
:func:`given_values` collects the ones the user set, to be resolved against the field
defaults (and, for the sampler, the checkpoint) by the settings class itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any

from chggen_kernels.settings import field_help

__all__ = ["add_limit_options", "add_settings_options", "default_of", "given_values",
           "int_at_least", "limits_from_args", "sampler_defaults", "sampler_preset_help",
           "shown"]


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``, else ``ArgumentTypeError``."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer >= {minimum}")
        return number

    return parse


def _scalar_type(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return base if base in (int, float, str) else str


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass or pydantic model ``cls``: where a
    command-line option's ``default=`` and its "(default X)" help read it from (a
    ``default_factory`` is called)."""
    if dataclasses.is_dataclass(cls):
        field = {f.name: f for f in dataclasses.fields(cls)}[name]
        if field.default is not dataclasses.MISSING:
            return field.default
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        raise KeyError(f"{cls.__name__}.{name} has no default")
    return cls.model_fields[name].get_default(call_default_factory=True)  # type: ignore[attr-defined]


def shown(value: Any) -> str:
    """A default as ``--help`` prints it: ``none``, ``0.1`` (floats ``:g``), ``20``."""
    if value is None:
        return "none"
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].rstrip(".")
    return head.replace("``", "")


def sampler_defaults() -> dict[str, Any]:
    """What a run samples with when no sampler option is given: the default preset over
    the :class:`~chggen_kernels.sampling.SamplerSettings` field defaults (resolved as
    :func:`campaign.stages.resources.resolve_sampler_settings` does), the sigma range being the
    checkpoint's."""
    from campaign.stages.resources import resolve_sampler_settings

    values = dataclasses.asdict(resolve_sampler_settings({}, None))
    values["sigma_min"] = values["sigma_max"] = "the checkpoint's"
    return values


def sampler_preset_help() -> str:
    """What ``--sampler`` names, read from the preset table: the default preset and the
    reference, each as :func:`~chggen_kernels.sampling.describe_preset` describes it."""
    from chggen_kernels.sampling import DEFAULT_PRESET, describe_preset

    return (f"default {DEFAULT_PRESET}: {describe_preset(DEFAULT_PRESET)}; reference: the "
            f"CHGGen {describe_preset('reference')}")


def add_settings_options(group: Any, cls: type, options: Mapping[str, str],
                         choices: Mapping[str, tuple[str, ...]] | None = None,
                         defaults: Mapping[str, Any] | None = None) -> None:
    """Add ``--option`` for each ``field -> option`` of ``options`` to ``group``.

    The help is the field's description with its default (``defaults``, e.g.
    :func:`sampler_defaults`, where a preset or the checkpoint decides it, else the
    field's); the destination is the field name; the default is ``None`` (not given).
    """
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)} | dict(defaults or {})
    for field, option in options.items():
        default = defaults[field]
        kwargs: dict[str, Any] = {"dest": field, "default": None,
                                  "help": f"{_first_sentence(helps.get(field, field))} "
                                          f"(default {shown(default)})"}
        if hints[field] is bool or isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _scalar_type(hints[field])
            if choices and field in choices:
                kwargs["choices"] = choices[field]
        group.add_argument(option, **kwargs)


def given_values(args: argparse.Namespace, fields: Mapping[str, str] | list[str]
                 ) -> dict[str, Any]:
    """``{field: value}`` of the options the user gave (``None`` means not given)."""
    return {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}


def add_limit_options(p: argparse.ArgumentParser, dry_run: bool = True) -> None:
    """``--limits NAME=VALUE`` (raise a size limit: the ``limits:`` block of a campaign
    file) and, unless ``dry_run`` is false, ``--dry-run``."""
    from campaign.inputs.limits import Limits

    defaults = ", ".join(f"{name} {field.default:,}" for name, field in
                         Limits.model_fields.items())
    p.add_argument("--limits", dest="limits", action="append", default=[],
                   metavar="NAME=VALUE",
                   help=f"raise a size limit, e.g. atoms_per_cell=400 (repeatable; defaults: "
                   f"{defaults})")
    if dry_run:
        p.add_argument("--dry-run", action="store_true",
                       help="check the input, print the plan and a cost estimate, and exit "
                       "without running anything")


def limits_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~campaign.inputs.limits.Limits` of ``--limits`` options."""
    from campaign.inputs.limits import parse_limit_options

    return parse_limit_options(getattr(args, "limits", None))
