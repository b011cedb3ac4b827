"""Read the harness's YAML input files (profiles, catalogues, rig set-ups,
campaigns, golden measurements) with one error shape that names the file.

Input files are data from outside (edited by hand next to a rig, copied from
another lab), so reading is bounded: at most :data:`MAX_BYTES` are read (a
``/dev/zero`` or a multi-gigabyte file fails at once), the text must be
UTF-8, and the document may not expand into more than :data:`MAX_NODES` nodes
once its aliases are followed (a "billion laughs" alias bomb is refused
before anything is built), nor alias itself recursively.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from harness.bounded_file import read_bounded

#: Largest YAML input file read, in bytes.
MAX_BYTES = 8 * 1024 * 1024
#: Most nodes a document may expand into, counting every alias use in full.
MAX_NODES = 200_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; only the size check below is added."""


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes in ``root`` with aliases expanded, without building anything.

    Raises:
        ValueError: a recursive alias, or more than ``limit`` nodes.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ValueError("an alias refers to a node that contains it (recursive alias)")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                raise ValueError(f"the document expands to more than {limit} nodes "
                                 "(aliases used as an alias bomb?)")
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def parse_yaml(text: str) -> Any:
    """Parse one YAML document with the size and alias limits.

    Raises:
        yaml.YAMLError: not valid YAML.
        ValueError: over the limits.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, MAX_NODES)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike[str], what: str, error: type[Exception]) -> Any:
    """Parse the YAML file at ``path``.

    Args:
        path: the file.
        what: what the file is, for messages, e.g. ``"chip profile"``.
        error: the exception class to raise (the caller's domain error).

    Raises:
        error: ``"<what> <path>: cannot read: <reason>"``,
            ``"<what> <path>: not valid YAML: <parser message>"``, or a line
            naming the limit or the encoding problem.
    """
    path = Path(path)
    data = read_bounded(path, MAX_BYTES, what, error)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                    f"offset {exc.start})") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} {path}: refused: {exc}") from None
