"""YAML as the suite's own files are read (the tracking plan, the baseline): safely, refusing a
key given twice (YAML keeps the last one silently: a merge conflict resolved badly), and with
one wording for what is wrong.

>>> read_yaml("events:\\n  a: {}\\n  a: {}\\n")
Traceback (most recent call last):
YamlError: not valid YAML (line 3, column 3): the key 'a' is given twice
"""

from __future__ import annotations

from typing import Any

__all__ = ["YamlError", "read_yaml"]


class YamlError(ValueError):
    """Text that is not valid YAML, or gives a key twice; the message says where."""


def read_yaml(text: str) -> Any:
    """The parsed YAML of ``text``; raises :class:`YamlError`. (PyYAML is imported on first
    use: a run without a plan or a baseline never loads it.)"""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """A safe loader that refuses a key given twice."""

    def unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, unique_mapping)
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"not valid YAML{where}: {problem}") from None
