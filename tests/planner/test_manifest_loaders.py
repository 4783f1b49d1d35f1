"""Manifests read by libyaml's C loader and by the pure-Python one: the same documents, and the
same one-line errors naming the file and the line."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from agentos.errors import PatchParseError
from agentos.planner.manifest import load_structured, yaml_loader

LOADERS = [
    pytest.param(yaml.SafeLoader, id="python"),
    pytest.param(
        getattr(yaml, "CSafeLoader", None),
        id="libyaml",
        marks=pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml"),
    ),
]


def parse_error(data: bytes, loader: type[Any]) -> PatchParseError:
    with pytest.raises(PatchParseError) as caught:
        load_structured(data, source="m.yaml", loader=loader)
    message = caught.value.message
    assert "\n" not in message, "errors are one line"
    assert message.startswith("m.yaml")
    return caught.value


def test_the_default_loader_is_libyaml_when_pyyaml_has_it() -> None:
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert yaml_loader() is expected


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"changes:\n  - op: create\n    path: a.txt\n   content: [unclosed\n", 4),
        (b"a: b\n  c: d\n", 2),
        (b'a: "x\n', 2),
        (b"a: [1,\n", 2),
        (b"{a: 1", 1),  # no final newline: the end is on the last line
        (b"- a\nb: c\n", 2),
        (b"x: |\n  a\n b\n", 3),
        (b"a: *nope\n", 1),
        (b'key: "\\q"\n', 1),
        (b"a: @b\n", 1),
        (b"intent: x\nchanges: !!python/object/apply:os.system [echo]\n", 2),
    ],
)
def test_syntax_errors_name_the_file_and_line(data: bytes, line: int, loader: type[Any]) -> None:
    error = parse_error(data, loader)
    assert error.message.startswith(f"m.yaml:{line}: invalid YAML/JSON: ")
    assert error.details["line"] == line


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    ("data", "line", "character"),
    [
        (b"\x00", 1, 0x00),
        (b"changes:\n  - a\n\x07\n", 3, 0x07),
        (b"a: b\n\x1b", 2, 0x1B),
        # Characters of several bytes before the bad one: libyaml counts bytes, Python characters.
        ("é: ü\nß: 日本\n\x07\nx: 1\ny: 2\n".encode(), 3, 0x07),
        ("a: 日本語\n\x08\nb: 1\nc: 2\nd: 3\n".encode(), 2, 0x08),
    ],
)
def test_unreadable_characters_are_one_line_on_the_right_line(
    data: bytes, line: int, character: int, loader: type[Any]
) -> None:
    error = parse_error(data, loader)
    assert error.message == (
        f"m.yaml:{line}: invalid YAML/JSON: character #x{character:04x}: "
        "special characters are not allowed"
    )
    assert error.details["line"] == line


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    "data",
    [
        b"a: " + b"[" * 2000 + b"]" * 2000,
        b"- " * 3000 + b"x\n",
        b"[" * 100_000 + b"]" * 100_000,  # JSON first, then YAML
    ],
    ids=["flow", "block", "json"],
)
def test_nesting_too_deep_reads_the_same(data: bytes, loader: type[Any]) -> None:
    error = parse_error(data, loader)
    assert error.message == "m.yaml: invalid YAML/JSON: nested too deeply"


@pytest.mark.parametrize("loader", LOADERS)
def test_a_bad_value_is_one_line(loader: type[Any]) -> None:
    error = parse_error(b"changes: [{op: create, path: a, mode: 2024-02-30}]\n", loader)
    assert error.message == "m.yaml: invalid YAML/JSON: day is out of range for month"


@pytest.mark.parametrize(
    "text",
    [
        "intent: scale\nchanges:\n  - op: create\n    path: src/a.py\n    content: |\n"
        "      print(1)\n      \n  - {op: modify, path: b.txt, content: 'x', mode: 0755}\n",
        "changes:\n- op: delete\n  path: old.txt\n- op: rename\n  from: a\n  path: b\n",
        "- {path: a.py, old_string: 'x = 1', new_string: \"x = 2\\n\", replace_all: yes}\n",
        "n: [1, 1.5, -2, 0x1f, 1_000, .inf, ~, null, true, off, 2024-01-02, '0644', 0644]\n",
        "a: &x {k: [1, 2]}\nb: *x\nc: !!binary aGk=\nd: >\n  folded\n  text\n",
        'k: "\\U0001f600 \\t \\u00e9"\n',
    ],
)
def test_both_loaders_read_the_same_documents(text: str) -> None:
    data = text.encode()
    python = load_structured(data, source="m.yaml", loader=yaml.SafeLoader)
    assert load_structured(data, source="m.yaml") == python
    assert python is not None


def test_json_is_read_as_json_whatever_the_loader() -> None:
    doc = {"changes": [{"op": "create", "path": "a", "content": "smile \U0001f600\n"}]}
    data = json.dumps(doc).encode()
    for loader in (yaml.SafeLoader, yaml_loader()):
        assert load_structured(data, source="m.json", loader=loader) == doc
