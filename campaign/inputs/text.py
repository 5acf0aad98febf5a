"""Reading a user's text files with bounds: size, encoding, and YAML expansion.

A YAML document can describe far more data than its text: nine levels of nine-fold
anchors (``&a [*b, *b, ...]``) in a 1 kB file expand to 9^9 nodes ("billion laughs").
:func:`load_yaml_text` composes the document into PyYAML's node graph first (aliases
stay references to one node there, so composing costs what the text costs), counts the
nodes the document would expand to, and builds Python objects only when that count is
within ``max_nodes``. Recursive aliases and nesting deeper than Python's recursion allows
are refused as well. Every refusal is an :class:`InputFileError` (exit 2) naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chggen_kernels.files import MAX_CONFIG_BYTES, InputFileError, read_text_file

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_YAML_NODES",
    "InputFileError",
    "load_yaml_file",
    "load_yaml_text",
    "read_text_file",
]

#: Most YAML nodes (scalars, sequences, mappings) a document may expand to, aliases
#: counted once per use (a campaign file has a few hundred).
MAX_YAML_NODES = 100_000


def _expanded_nodes(root: yaml.Node, limit: int) -> int | None:
    """Nodes ``root`` expands to (each alias use counted in full), or ``None`` when more
    than ``limit``. Raises ``ValueError`` on a recursive alias."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                return None
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ValueError("an alias refers to a node that contains it (recursive alias)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml_text(text: str, *, source: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse ``text`` as one YAML document with PyYAML's safe loader, refusing (one-line
    :class:`InputFileError` starting with ``source``) a document that is not valid YAML,
    uses tags of Python objects, nests too deeply, has a recursive alias or expands to
    more than ``max_nodes`` nodes. An empty document is ``None``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise InputFileError(f"{source}: not valid YAML ({_one_line(exc)})") from None
    except RecursionError:
        raise InputFileError(f"{source}: nested too deeply to be a configuration") from None
    if node is None:
        return None
    try:
        size = _expanded_nodes(node, max_nodes)
    except ValueError as exc:
        raise InputFileError(f"{source}: {exc}") from None
    if size is None:
        raise InputFileError(f"{source}: expands to more than {max_nodes:,} YAML nodes "
                             "(anchors and aliases); refused before building it")
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputFileError(f"{source}: not valid YAML ({_one_line(exc)})") from None
    except RecursionError:
        raise InputFileError(f"{source}: nested too deeply to be a configuration") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path, *, what: str, max_bytes: int = MAX_CONFIG_BYTES,
                   max_nodes: int = MAX_YAML_NODES) -> Any:
    """:func:`read_text_file` then :func:`load_yaml_text`, messages naming ``what`` and
    the path."""
    text = read_text_file(path, what=what, max_bytes=max_bytes)
    return load_yaml_text(text, source=f"{what} {str(path)!r}", max_nodes=max_nodes)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."
