"""Pulumi's YAML files read as the CLI reads them, with one clear line for each mistake in them.

``read_stack_file`` gives the ``config:`` mapping of a ``Pulumi.<stack>.yaml`` with its keys as
written; ``offline.engine`` then resolves the keys as the CLI does (``offline.project_config``).
Every problem is a ``StackFileError`` whose message is one line: the file, the line and column
(1-based, as editors count them), what is wrong and what to do, never a parser traceback.

What the CLI does with a stack file (pulumi/pulumi v3.274, ``sdk/go/common/workspace/loaders.go``
``LoadProjectStackBytes`` and ``project.go`` ``ProjectStack``; the messages checked with CLI
v3.274.0 ``pulumi config``):

- it strips a UTF-8 byte-order mark, then parses YAML: a syntax error, a tab where YAML wants
  indentation and a key set twice in one mapping are errors ("mapping key "role" already defined
  at line 3");
- an empty file is a stack with no config;
- it reads the top-level keys ``secretsprovider``, ``encryptedkey``, ``encryptionsalt``,
  ``config`` and ``environment`` and ignores any other. Refused here (our rule, not the CLI's): a
  config key written beside ``config:`` instead of under it would otherwise be silently dropped;
- ``config:`` must be a mapping ("cannot unmarshal !!seq into map[string]config.Value").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# ProjectStack's fields (pulumi/pulumi sdk/go/common/workspace/project.go).
STACK_FILE_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt", "config", "environment")
# libyaml when PyYAML has it (the pure-Python parser is slow on long comment blocks).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StackFileError(Exception):
    """A Pulumi YAML file that cannot be used; the message is one line naming the file and place."""


def _at(name: str, mark: yaml.Mark | None) -> str:
    return f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"the text {node.value!r}" if node.value else "nothing"


def _syntax_error(name: str, text: str, error: yaml.MarkedYAMLError) -> StackFileError:
    mark = error.problem_mark or error.context_mark
    problem = (error.problem or str(error)).strip()
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if mark is not None and "\t" in indentation:
        # libyaml says only "found character that cannot start any token".
        return StackFileError(
            f"{name}:{mark.line + 1}:{indentation.index(chr(9)) + 1}: a tab in the indentation; YAML indents with spaces only,"
            " replace the tab with spaces"
        )
    context = f" ({error.context.strip()})" if error.context else ""
    return StackFileError(
        f"{_at(name, mark)}: not valid YAML: {problem}{context}; check the indentation, colons and quotes on this line and the one before"
    )


def _check_unique_keys(name: str, node: yaml.Node) -> None:
    """A key set twice in one mapping: the Go YAML parser the CLI uses refuses it, PyYAML keeps the last."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Mark] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    first = seen[key.value].line + 1
                    raise StackFileError(
                        f"{_at(name, key.start_mark)}: {key.value!r} is set twice in one mapping (first at line {first}); keep one of them"
                    )
                seen[key.value] = key.start_mark
            _check_unique_keys(name, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_unique_keys(name, item)


def read_yaml_file(path: Path) -> tuple[Any, yaml.Node | None]:
    """The document in ``path`` and its node (None for an empty file), or StackFileError."""
    name = path.name
    try:
        content = path.read_bytes()
    except OSError as error:
        raise StackFileError(f"{name}: cannot be read ({error.strerror or error}); check that it is a readable file") from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        column = error.start - (content.rfind(b"\n", 0, error.start) + 1) + 1
        raise StackFileError(
            f"{name}:{line}:{column}: byte 0x{content[error.start]:02x} is not UTF-8 text; save the file as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")
    loader = _LOADER(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        if node is None:
            return None, None
        _check_unique_keys(name, node)
        return loader.construct_document(node), node
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(name, text, error) from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{name}: not valid YAML: {str(error).splitlines()[0]}") from None
    finally:
        loader.dispose()


def _mapping_value(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key and isinstance(value_node, yaml.Node):
            return value_node
    return None


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, keys as written; StackFileError for any mistake."""
    name = path.name
    document, node = read_yaml_file(path)
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode) or not isinstance(document, dict):
        raise StackFileError(
            f"{_at(name, node.start_mark)}: a stack file is a mapping with a config: key (config: then one indented"
            f" 'kvm-in-a-pod:key: value' per line); found {_kind(node)}"
        )
    for key_node, _ in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in STACK_FILE_KEYS:
            raise StackFileError(
                f"{_at(name, key_node.start_mark)}: {key!r} is outside config:, where the Pulumi CLI ignores it"
                f" (it reads only {', '.join(STACK_FILE_KEYS)}); indent it under config:"
            )
    config_node = _mapping_value(node, "config")
    config = document.get("config")
    if config_node is None or config is None:
        return {}
    if not isinstance(config_node, yaml.MappingNode) or not isinstance(config, dict):
        raise StackFileError(
            f"{_at(name, config_node.start_mark)}: config: must be a mapping of keys to values"
            f" (one indented 'kvm-in-a-pod:key: value' per line); found {_kind(config_node)}"
        )
    return {str(key): value for key, value in config.items()}
