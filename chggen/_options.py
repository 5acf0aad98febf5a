"""Keyword arguments of the Python API as options of the ``chggen`` command line.

Each function of :mod:`chggen` mirrors one command: its keywords are the command's long
options (``n_samples=2`` is ``--n-samples 2``, ``sampler="fast"`` is ``--sampler fast``),
and a keyword left at its default is not passed at all, so the default is the command's,
read from the command's own argument definitions (:class:`CliDefault`). The keywords go
through that command's argparse parser, so a bad value is refused with the command's
message, as an :class:`~chggen_kernels.errors.InputError` instead of exit code 2.

Nothing here imports more than the standard library until a function is called; the
parsers are built on first use (about 0.3 s: they import the settings classes).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chggen_kernels.errors import InputError

__all__ = ["CliDefault", "CliDefaults", "OptionError", "parse_options"]

#: Options of the command line that have no meaning for a function call, and what to use.
CLI_ONLY = {
    "top": "use Results.best(n)",
    "dry_run": "use the command line: chggen <command> --dry-run",
    "print_config": "use the command line: chggen scan --print-config",
    "help": "use help(chggen.<function>)",
    "version": "use chggen.__version__",
}

#: Options of ``chggen generate`` that :func:`chggen.evaluate` takes (relaxation, hull,
#: output): the rest of the shared options configure the score model and its sampler.
EVALUATE_OPTIONS = ("hull", "out", "new_folder", "device", "threads", "quiet", "no_progress",
                    "limits", "fmax", "max_steps", "mlip")


class OptionError(InputError, TypeError):
    """A keyword the command has no option for, or a value its option refuses."""


class CliDefault:
    """The default of a keyword: the default of the same option of ``chggen <command>``.

    Shown (``repr``, so ``help()`` and ``inspect.signature``) as that default's value,
    read from the command's parser at that moment; a keyword still holding a
    ``CliDefault`` is not passed to the parser, which then applies its own default.
    """

    __slots__ = ("command", "name")

    def __init__(self, command: str, name: str) -> None:
        self.command, self.name = command, name

    @property
    def value(self) -> Any:
        """The command's default for this option."""
        return defaults(self.command)[self.name]

    def __repr__(self) -> str:
        return repr(self.value)


class CliDefaults:
    """The defaults of ``chggen <command>``'s options as attributes:
    ``CliDefaults("generate").n_samples`` is the :class:`CliDefault` of ``--n-samples``
    (typed ``Any``, so that it can stand for a default of any type)."""

    def __init__(self, command: str) -> None:
        self._command = command

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return CliDefault(self._command, name)


class _ParseError(Exception):
    """Raised by a parser instead of exiting."""


def _raise(message: str) -> Any:
    raise _ParseError(message)


@functools.cache
def _parser(command: str) -> argparse.ArgumentParser:
    """The argparse parser of ``chggen <command>`` (``evaluate``: the options shared by
    ``generate`` and ``inpaint``), raising instead of exiting on bad input."""
    from campaign.cli import OneLineParser

    if command == "evaluate":
        from campaign.commands.generate import add_shared_arguments

        parser: argparse.ArgumentParser = OneLineParser(prog="chggen.evaluate")
        add_shared_arguments(parser)
    else:
        root = OneLineParser(prog="chggen")
        sub = root.add_subparsers(dest="command")
        importlib.import_module(f"campaign.commands.{command}").register(sub)
        parser = sub.choices[command]
    parser.error = _raise  # type: ignore[method-assign]
    return parser


@functools.cache
def _options(command: str) -> dict[str, argparse.Action]:
    """Keyword name -> option action: every long option, ``--n-samples`` as ``n_samples``."""
    found: dict[str, argparse.Action] = {}
    for action in _parser(command)._actions:
        for flag in action.option_strings:
            if flag.startswith("--"):
                found[flag[2:].replace("-", "_")] = action
    if command == "evaluate":
        found = {name: found[name] for name in EVALUATE_OPTIONS if name in found}
    return found


@functools.cache
def defaults(command: str) -> dict[str, Any]:
    """Keyword name -> the command's default for that option."""
    return {name: action.default for name, action in _options(command).items()}


def _flag(action: argparse.Action) -> str:
    return next(f for f in action.option_strings if f.startswith("--"))


def _items(value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _limit_items(value: Any) -> list[str]:
    """``limits=`` as ``NAME=VALUE`` items: a mapping, a ``Limits``, or such items."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return [f"{name}={number}" for name, number in value.items()]
    return [str(item) for item in _items(value)]


def _argv(function: str, name: str, action: argparse.Action, value: Any) -> list[str]:
    """The command-line words of keyword ``name=value``."""
    flag = _flag(action)
    if isinstance(action, argparse.BooleanOptionalAction) or action.nargs == 0:
        if not isinstance(value, bool):
            raise OptionError(f"{function}(): {name} must be True or False, got {value!r}")
        if isinstance(action, argparse.BooleanOptionalAction):
            return [flag if value else f"--no-{flag[2:]}"]
        return [flag] if value is bool(action.const) else []
    if isinstance(action, argparse._AppendAction):
        items = _limit_items(value) if name == "limits" else [str(v) for v in _items(value)]
        return [f"{flag}={item}" for item in items]
    if isinstance(value, bool) and action.type is not None:
        raise OptionError(f"{function}(): {name} = {value!r}: takes a value, not True/False")
    return [f"{flag}={value}"]


def parse_options(command: str, function: str, positionals: Sequence[str],
                  given: Mapping[str, Any]) -> argparse.Namespace:
    """The namespace ``chggen <command>`` would parse from ``positionals`` and the
    keywords ``given`` (those still holding a :class:`CliDefault`, or ``None``, are left
    to the command's default). Unknown keywords and refused values raise
    :class:`OptionError` naming ``function``."""
    options = _options(command)
    argv: list[str] = []
    for name, value in given.items():
        if value is None or isinstance(value, CliDefault):
            continue
        if name in CLI_ONLY:
            raise OptionError(f"{function}(): {name} is a command-line option only "
                              f"({CLI_ONLY[name]})")
        action = options.get(name)
        if action is None:
            close = difflib.get_close_matches(name, list(options), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise OptionError(f"{function}(): unknown option {name!r}{hint} (the options "
                              f"are those of 'chggen {command} --help', '-' written '_')")
        argv += _argv(function, name, action, value)
    try:
        return _parser(command).parse_args([*argv, "--", *positionals] if positionals
                                           else argv)
    except _ParseError as exc:
        raise OptionError(f"{function}(): {exc}") from None
