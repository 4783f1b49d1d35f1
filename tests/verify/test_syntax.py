"""Syntax checks of written files (SPEC §9): ``syntax_problem(path, data)``.

``.py`` must compile, ``.json`` / ``.yaml`` / ``.yml`` (every document) / ``.toml`` must parse;
the message names the file, the parser's line and the parser's own words. Other files are not
checked. Decided here: the suffix is the text after the last dot of the *last* path component,
compared case-insensitively (``x.PY`` is Python; ``dir.d/file``, ``Makefile``, ``x.py.bak``
and ``x.jsonl`` are not checked). YAML is loaded with the safe loader, so a Python tag is an
error and never runs anything. Run time: about 2 s.
"""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml

from agentos.verify.syntax import SYNTAX_SUFFIXES, syntax_problem

# --- Python ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        b"",
        b"x = 1\n",
        b"def f(a, *, b=2):\n    return a + b\n",
        b"\xef\xbb\xbfprint('bom')\n",
        b"# -*- coding: latin-1 -*-\ns = '\xe9'\n",
        b"async def f():\n    await g()\n",
        b"match x:\n    case [1, *rest]:\n        pass\n",
    ],
    ids=["empty", "assign", "def", "bom", "latin1-cookie", "async", "match"],
)
def test_valid_python(source: bytes) -> None:
    assert syntax_problem("src/mod.py", source) is None


@pytest.mark.parametrize(
    "source",
    [
        b"x = 1\ny = 2\nz = (\n",
        b"def f(:\n    pass\n",
        b"x = 1\nif x:\nprint(x)\n",
        b"x = 1\n  y = 2\n",
        b"ok = 1\nreturn = 5\n",
    ],
    ids=["unclosed", "bad-def", "no-indent", "unexpected-indent", "keyword"],
)
def test_invalid_python_names_file_line_and_parser_message(source: bytes) -> None:
    try:
        compile(source, "src/mod.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        expected = exc
    else:  # pragma: no cover - the inputs are chosen to be invalid
        pytest.fail("the example compiles")
    problem = syntax_problem("src/mod.py", source)
    assert problem is not None
    assert problem.startswith(f"src/mod.py:{expected.lineno}: ")
    assert expected.msg in problem
    assert expected.lineno is not None and expected.lineno > 0


def test_invalid_python_line_is_the_parsers_line() -> None:
    problem = syntax_problem("pkg/a.py", b'"""doc"""\n\nimport os\n\n\ndef f(:\n    pass\n')
    assert problem is not None
    assert problem.startswith("pkg/a.py:6: ")


def test_python_with_nul_bytes() -> None:
    problem = syntax_problem("src/nul.py", b"x = 1\x00\n")
    assert problem is not None
    assert problem.startswith("src/nul.py:")
    assert "null bytes" in problem


def test_python_that_is_not_utf8() -> None:
    problem = syntax_problem("src/latin.py", b"s = '\xe9'\n")
    assert problem is not None
    assert problem.startswith("src/latin.py:1: ")
    assert "utf-8" in problem.lower()


def test_python_is_compiled_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\n".encode()
    assert syntax_problem("evil.py", source) is None
    assert not marker.exists()


def test_python_that_only_warns_is_valid_under_an_error_filter() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert syntax_problem("re_use.py", b"import re\npattern = re.compile('\\d+')\n") is None


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [b'{"a": [1, 2.5, null, true]}', b"[]", b'"s"', b"\xef\xbb\xbf{}", b" 1 \n"]
)
def test_valid_json(text: bytes) -> None:
    assert syntax_problem("data/x.json", text) is None


@pytest.mark.parametrize(
    "text",
    [b'{\n  "a": 1,\n}\n', b"", b'{"a": 1}\n{"b": 2}\n', b"[1, 2\n", b"{'single': 1}"],
    ids=["trailing-comma", "empty", "two-values", "unclosed", "single-quotes"],
)
def test_invalid_json_names_file_line_and_parser_message(text: bytes) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        expected = exc
    else:  # pragma: no cover
        pytest.fail("the example parses")
    problem = syntax_problem("data/x.json", text)
    assert problem is not None
    assert problem.startswith(f"data/x.json:{expected.lineno}: invalid JSON: ")
    assert expected.msg in problem


def test_json_that_is_not_utf8() -> None:
    problem = syntax_problem("data/x.json", b'{"a": "\xff"}')
    assert problem is not None
    assert problem.startswith("data/x.json")
    assert "invalid JSON" in problem


# --- YAML ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"a: 1\nb: [1, 2]\n",
        b"a: 1\n---\nb: 2\n---\n- x\n",
        b"---\n...\n---\nc: 3\n",
        b"# only a comment\n",
    ],
    ids=["empty", "mapping", "three-documents", "explicit-end", "comment"],
)
def test_valid_yaml(suffix: str, text: bytes) -> None:
    assert syntax_problem(f"config/app{suffix}", text) is None


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b"a: 1\nb: [1, 2\n", 3),
        (b"a: 1\n  b: 2\n", 2),
        (b"a: 1\n---\nb: 2\n---\nc: [\n", 6),
        (b"a: 1\n---\nkey: value: other\n", 3),
    ],
    ids=["unclosed-flow", "bad-indent", "third-document", "second-document"],
)
def test_invalid_yaml_names_file_line_and_parser_message(
    suffix: str, text: bytes, line: int
) -> None:
    try:
        list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        expected = exc
    else:  # pragma: no cover
        pytest.fail("the example parses")
    mark = expected.problem_mark
    assert mark is not None and mark.line + 1 == line
    problem = syntax_problem(f"config/app{suffix}", text)
    assert problem is not None
    assert problem.startswith(f"config/app{suffix}:{line}: invalid YAML: ")
    assert str(expected.problem) in problem


def test_yaml_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"!!python/object/apply:os.system ['touch {marker}']\n".encode()
    problem = syntax_problem("evil.yaml", text)
    assert problem is not None
    assert problem.startswith("evil.yaml:1: invalid YAML: ")
    assert not marker.exists()


def test_yaml_that_is_not_utf8() -> None:
    problem = syntax_problem("x.yaml", b"a: \xff\xfe\xfa\n")
    assert problem is not None
    assert problem.startswith("x.yaml")
    assert "invalid YAML" in problem


# --- TOML ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b'[project]\nname = "x"\nversion = "1"\n',
        b"a = [1, 2]\n[t]\nb = { c = 1 }\n",
        'name = "caf\u00e9"\n'.encode(),
    ],
    ids=["empty", "table", "inline", "unicode"],
)
def test_valid_toml(text: bytes) -> None:
    assert syntax_problem("pyproject.toml", text) is None


@pytest.mark.parametrize(
    ("text", "line"),
    [(b"a = 1\nb = \n", 2), (b"a = 1\na = 2\n", 2), (b"[t]\nx = 1\n[t]\n", 3)],
    ids=["missing-value", "duplicate-key", "duplicate-table"],
)
def test_invalid_toml_names_file_line_and_parser_message(text: bytes, line: int) -> None:
    try:
        tomllib.loads(text.decode())
    except tomllib.TOMLDecodeError as exc:
        expected = str(exc)
    else:  # pragma: no cover
        pytest.fail("the example parses")
    assert f"line {line}" in expected
    problem = syntax_problem("conf/app.toml", text)
    assert problem is not None
    assert problem.startswith("conf/app.toml")
    assert "invalid TOML" in problem
    assert expected in problem  # the parser's words, which carry the line


def test_toml_that_is_not_utf8() -> None:
    problem = syntax_problem("conf/app.toml", b'name = "caf\xe9"\n')
    assert problem is not None
    assert problem.startswith("conf/app.toml: invalid TOML: not UTF-8")


# --- which files are checked -----------------------------------------------------------------


GARBAGE = b"\x00{[(: not valid in any of the checked formats\n  \t- ]"


def test_garbage_is_a_problem_for_every_checked_suffix() -> None:
    # The control for the "not checked" cases below: the same bytes fail where checked.
    for suffix in SYNTAX_SUFFIXES:
        assert syntax_problem(f"a/b{suffix}", GARBAGE) is not None, suffix


@pytest.mark.parametrize(
    "path",
    [
        "Makefile",
        "README",
        "notes.txt",
        "x.py.bak",
        "x.pyc",
        "x.jsonl",
        "x.json5",
        "x.tomlx",
        "archive.tar.gz",
        "dir.d/file",
        "pkg.json/inner",
        "conf.yaml/Makefile",
        "x.",
        "a/b.c/d",
    ],
)
def test_other_files_are_not_checked(path: str) -> None:
    assert syntax_problem(path, GARBAGE) is None


@pytest.mark.parametrize(
    "path",
    [
        "x.PY",
        "x.Py",
        "Data.JSON",
        "c.YML",
        "c.Yaml",
        "Cargo.TOML",
        "dir.d/file.py",
        "a.b.c/x.json",
        ".eslintrc.json",
        "deep/er/path/.config.yaml",
    ],
)
def test_suffix_is_the_last_components_and_case_insensitive(path: str) -> None:
    problem = syntax_problem(path, GARBAGE)
    assert problem is not None
    assert problem.startswith(path)


@pytest.mark.parametrize(
    "path",
    ["x.PY", "Data.JSON", "c.YML", "Cargo.TOML"],
)
def test_upper_case_suffix_valid_content_passes(path: str) -> None:
    content = {
        ".py": b"x = 1\n",
        ".json": b"{}",
        ".yml": b"a: 1\n",
        ".toml": b"a = 1\n",
    }["." + path.rsplit(".", 1)[1].lower()]
    assert syntax_problem(path, content) is None


# --- pathological nesting --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        pytest.param(
            "deep.json",
            b"[" * 100_000,
        ),
        pytest.param(
            "deep.yaml",
            b"[" * 100_000,
        ),
        pytest.param(
            "deep.toml",
            b"a = " + b"[" * 100_000,
        ),
        pytest.param(
            "deep.py",
            b"x = " + b"-" * 100_000 + b"1\n",
        ),
        pytest.param("deep2.py", b"x = " + b"(" * 1000 + b"1" + b")" * 1000 + b"\n"),
    ],
)
def test_deeply_nested_input_is_reported_not_raised(path: str, data: bytes) -> None:
    problem = syntax_problem(path, data)
    assert problem is not None
    assert problem.startswith(path)
