"""Structured inputs: manifests (full new contents per file) and edit lists (string replaces).

Manifest (YAML or JSON)::

    intent: "rename the helper"
    changes:
      - {op: create, path: src/new.py, content: "print(1)\\n"}
      - {op: modify, path: README.md, content: "new text\\n", mode: "100644"}
      - {op: create, path: logo.png, content_base64: "iVBORw0..."}
      - {op: delete, path: old.txt}
      - {op: rename, from: a.txt, path: b.txt}

Edits: a list (or ``{intent, edits: [...]}``) of ``{path, old_string, new_string,
replace_all?}``; ``old_string`` must occur exactly once unless ``replace_all`` is true, and an
empty ``old_string`` creates a file that does not exist yet.

A few bytes of either can stand for a large file (a YAML alias repeats a string, a
``replace_all`` multiplies one), so every new content is sized against the overlay's
``max_file_bytes`` before it is built, and refused when larger.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

from agentos.errors import ConflictError, PatchConflictError, PatchParseError
from agentos.model import MODE_EXECUTABLE, MODE_REGULAR, FileMode
from agentos.planner.textedits import Replace, diff_counts, rename_file, replace_text
from agentos.planner.tree import FileState, Overlay, PlanLimits
from agentos.textlines import line_count
from agentos.workspace import normalise_path

_MODES: dict[object, FileMode] = {
    "100644": MODE_REGULAR,
    "644": MODE_REGULAR,
    "0644": MODE_REGULAR,
    100644: MODE_REGULAR,
    644: MODE_REGULAR,
    "100755": MODE_EXECUTABLE,
    "755": MODE_EXECUTABLE,
    "0755": MODE_EXECUTABLE,
    100755: MODE_EXECUTABLE,
    755: MODE_EXECUTABLE,
    # YAML 1.1 reads an unquoted 0644 / 0755 as an octal number.
    0o644: MODE_REGULAR,
    0o755: MODE_EXECUTABLE,
}
_MANIFEST_KEYS = {"op", "path", "from", "content", "content_base64", "mode"}
_EDIT_KEYS = {"path", "old_string", "new_string", "replace_all"}


def load_structured(data: bytes, *, source: str, loader: type[Any] | None = None) -> Any:
    """Parse YAML or JSON (JSON is YAML), turning syntax errors into one-line messages.

    JSON is read with ``json``; YAML with libyaml's C loader when PyYAML was built with it
    (several times faster), else with the pure-Python ``SafeLoader`` — or with ``loader``.
    Either way a syntax error reads ``SOURCE:LINE: invalid YAML/JSON: PROBLEM``.
    """
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchParseError(f"{source}: is not UTF-8 text", details={"input": source}) from None
    chosen = loader if loader is not None else yaml_loader()
    try:
        if text.lstrip()[:1] in ("{", "["):
            try:
                return _json_document(text)
            except ValueError:
                pass  # not JSON as JSON reads it: YAML's flow style may still
        with _collector_paused():
            return yaml.load(text, Loader=chosen)  # noqa: S506 (a safe loader, chosen above)
    except RecursionError:
        raise _too_deep(source) from None
    except yaml.reader.ReaderError as exc:
        # Its text spans two lines and gives an offset: in characters from the Python reader,
        # in bytes of UTF-8 from libyaml's. Errors are one line, worded the same either way.
        python_reader = issubclass(chosen, yaml.reader.Reader)
        before = text[: exc.position] if python_reader else _utf8_prefix(text, exc)
        line = before.count("\n") + 1
        raise PatchParseError(
            f"{source}:{line}: invalid YAML/JSON: character #x{exc.character:04x}: "
            "special characters are not allowed",
            details={"input": source, "line": line},
        ) from None
    except yaml.MarkedYAMLError as exc:
        if exc.problem == "exceeded maximum nesting depth":
            # libyaml's bound on nesting, where the Python reader runs out of recursion.
            raise _too_deep(source) from None
        mark = exc.problem_mark
        # libyaml puts the end of a text without a final newline on a line past its last.
        line = min(mark.line + 1, text.count("\n") + 1) if mark is not None else 0
        raise PatchParseError(
            f"{source}:{line}: invalid YAML/JSON: {_one_line(exc.problem or str(exc))}",
            details={"input": source, "line": line},
        ) from None
    except yaml.YAMLError as exc:
        raise PatchParseError(
            f"{source}: invalid YAML/JSON: {_one_line(str(exc))}", details={"input": source}
        ) from None
    except ValueError as exc:
        # A scalar the constructor cannot convert: a date that does not exist, an integer
        # of thousands of digits.
        raise PatchParseError(
            f"{source}: invalid YAML/JSON: {_one_line(str(exc))}", details={"input": source}
        ) from None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while YAML builds its node tree: its passes over the
    millions of nodes of a large manifest made the load super-linear (100k files: 7.1 s with
    it, 2.0 s without). The tree holds no garbage cycles; collection resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def yaml_loader() -> type[Any]:
    """libyaml's safe loader when PyYAML has it, else the pure-Python one (same documents)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _utf8_prefix(text: str, exc: Any) -> str:
    """The part of ``text`` before the byte offset libyaml gives for a reader error."""
    return text.encode("utf-8")[: exc.position].decode("utf-8", "replace")


def _too_deep(source: str) -> PatchParseError:
    return PatchParseError(
        f"{source}: invalid YAML/JSON: nested too deeply", details={"input": source}
    )


def _json_document(text: str) -> Any:
    """``text`` read as JSON, where that gives what YAML gives, else ``ValueError``.

    JSON is read as JSON first: YAML 1.1 turns the escaped surrogate pair of a character
    beyond U+FFFF (``"\\ud83d\\ude00"``, as ``json.dumps`` writes an emoji) into two lone
    surrogates, which no file can hold, and reads JSON several times slower. Where the two
    readings differ otherwise — a number with an exponent (a string to YAML 1.1), NaN and
    Infinity — the text is left to YAML, so nothing else changes.
    """

    def no_exponent(literal: str) -> float:
        if "e" in literal or "E" in literal:
            raise ValueError("an exponent: YAML 1.1 reads it otherwise")
        return float(literal)

    def no_constant(literal: str) -> Any:
        raise ValueError(f"{literal} is not JSON")

    return json.loads(text, parse_float=no_exponent, parse_constant=no_constant)


def _one_line(message: str) -> str:
    """``message`` with its line breaks folded, since errors are one line on stderr."""
    return " ".join(message.split())


def is_manifest(doc: Any) -> bool:
    """True for ``{changes: [...]}``."""
    return isinstance(doc, dict) and isinstance(doc.get("changes"), list)


def is_edits(doc: Any) -> bool:
    """True for a list of edits or ``{edits: [...]}``."""
    items = doc.get("edits") if isinstance(doc, dict) else doc
    return isinstance(items, list) and all(
        isinstance(item, dict) and "old_string" in item for item in items
    )


def _fail(source: str, where: str, message: str) -> PatchParseError:
    return PatchParseError(f"{source}: {where}: {message}", details={"input": source, "at": where})


def _names(keys: set[Any]) -> list[str]:
    """Unknown keys for a message, sorted even when YAML made some of them numbers."""
    return sorted(str(key) for key in keys)


def text_field(item: dict[str, Any], key: str, source: str, where: str) -> str:
    """``item[key]`` when it is a string that a file can hold; else ``PatchParseError``
    naming ``source``, ``where`` and the key."""
    value = item.get(key)
    if not isinstance(value, str):
        raise _fail(source, f"{where}.{key}", f"must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A JSON/YAML escape such as "\ud800" gives a lone surrogate, which no file can hold.
        raise _fail(source, f"{where}.{key}", "is not valid Unicode (a lone surrogate)") from None
    return value


def manifest_intent(doc: Any) -> str | None:
    """The ``intent`` a manifest or edit list carries, if any."""
    if isinstance(doc, dict) and isinstance(doc.get("intent"), str):
        return str(doc["intent"])
    return None


def apply_manifest(doc: Any, overlay: Overlay, *, source: str) -> None:
    """Apply every entry of a manifest in order."""
    if not is_manifest(doc):
        raise PatchParseError(
            f"{source}: a manifest is a mapping with a 'changes' list", details={"input": source}
        )
    unknown = set(doc) - {"intent", "changes"}
    if unknown:
        raise _fail(
            source, "top level", f"unknown key(s) {_names(unknown)}; allowed: intent, changes"
        )
    if not doc["changes"]:
        raise _fail(source, "changes", "is empty")
    for index, item in enumerate(doc["changes"]):
        where = f"changes[{index}]"
        if not isinstance(item, dict):
            raise _fail(source, where, "must be a mapping with 'op' and 'path'")
        unknown = set(item) - _MANIFEST_KEYS
        if unknown:
            raise _fail(source, where, f"unknown key(s) {_names(unknown)}")
        op = item.get("op")
        if op not in ("create", "modify", "delete", "rename"):
            raise _fail(source, f"{where}.op", "must be one of create, modify, delete, rename")
        path = normalise_path(text_field(item, "path", source, where), source=f"{source}: {where}")
        content = _content(item, source, where, limits=overlay.limits, path=path)
        if op == "delete" and (content is not None or "mode" in item):
            raise _fail(source, where, "a delete takes no content or mode")
        mode = _mode(item, source, where)
        label = f"{source}: {where}"
        before = overlay.get(path)
        if op == "create":
            if before is not None or overlay.is_dir(path):
                raise ConflictError(
                    f"{label}: cannot create {path}: it already exists (use op: modify)",
                    details={"input": source, "path": path},
                )
            content = _required(content, source, where)
            overlay.write(
                path,
                FileState(content, mode or MODE_REGULAR),
                origin=None,
                added=line_count(content),
                removed=0,
                what=label,
            )
        elif op == "modify":
            existing = _require(before, path, label, "modify")
            content = _required(content, source, where)
            added, removed = diff_counts(existing.content, content)
            overlay.write(
                path,
                FileState(content, mode or existing.mode),
                origin=overlay.origin(path),
                added=added,
                removed=removed,
                what=label,
            )
        elif op == "delete":
            _require(before, path, label, "delete")
            overlay.delete(path)
        else:
            source_path = normalise_path(text_field(item, "from", source, where), source=label)
            rename_file(overlay, source_path, path, label=label, content=content, mode=mode)


def _require(state: FileState | None, path: str, label: str, verb: str) -> FileState:
    if state is None:
        raise PatchConflictError(
            f"{label}: cannot {verb} {path}: it does not exist in the workspace",
            details={"path": path},
        )
    return state


def _required(content: bytes | None, source: str, where: str) -> bytes:
    if content is None:
        raise _fail(source, where, "needs 'content' or 'content_base64'")
    return content


def _content(
    item: dict[str, Any], source: str, where: str, *, limits: PlanLimits, path: str
) -> bytes | None:
    """The bytes an entry's ``content`` or ``content_base64`` gives, if any, sized against
    ``limits.max_file_bytes`` before they are built."""
    has_text, has_b64 = "content" in item, "content_base64" in item
    if has_text and has_b64:
        raise _fail(source, where, "give either 'content' or 'content_base64', not both")
    what = f"the content of {where} is"
    if has_text:
        text = text_field(item, "content", source, where)
        return limits.encode(text, source=source, path=path, what=what)
    if has_b64:
        raw = text_field(item, "content_base64", source, where)
        limits.check_file(_decoded_size(raw), source=source, path=path, what=what)
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(source, f"{where}.content_base64", "is not valid base64") from None
    return None


def _decoded_size(raw: str) -> int:
    """How many bytes valid base64 ``raw`` decodes to (3 per 4 characters, less padding)."""
    return len(raw) // 4 * 3 - raw.endswith("=") - raw.endswith("==")


def _mode(item: dict[str, Any], source: str, where: str) -> FileMode | None:
    if "mode" not in item:
        return None
    raw = item["mode"]
    # Only strings and integers name modes (a list is unhashable, True == 1, 755.0 == 755).
    plain = isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool))
    mode = _MODES.get(raw) if plain else None
    if mode is None:
        # Never the repr of a list or mapping: YAML aliases can nest one exponentially.
        shown = _shown(raw) if plain else f"a {type(raw).__name__}"
        message = f"{shown} is not a file mode; use '100644' or '100755'"
        raise _fail(source, f"{where}.mode", message)
    return mode


def _shown(value: str | int, most: int = 60) -> str:
    """A short repr of a scalar for a one-line message."""
    text = repr(value[:most] if isinstance(value, str) else value)
    return text if len(text) <= most else text[: most - 3] + "..."


# More edits than this in one input is not an agent's edit list; each costs a pass over a file.
MAX_EDITS = 10_000


def _bound_edits(items: list[Any], limit: int, *, source: str) -> None:
    """Refuse an edit list whose strings, once YAML aliases are expanded, exceed ``limit``
    bytes, or that holds more than ``MAX_EDITS`` edits: a few kilobytes of aliases could
    otherwise make gigabytes of strings and hours of searching."""
    from agentos.errors import InputTooLargeError

    if len(items) > MAX_EDITS:
        raise InputTooLargeError(
            f"{source}: {len(items)} edits, more than the {MAX_EDITS} one edit list may hold; "
            "nothing was planned — split the change",
            details={"input": source, "edits": len(items)},
        )
    expanded = 0
    for item in items:
        if isinstance(item, dict):
            for key in ("old_string", "new_string"):
                value = item.get(key)
                if isinstance(value, str):
                    expanded += len(value)
    if expanded > limit:
        raise InputTooLargeError(
            f"{source}: the edits' strings add up to {expanded} characters (YAML aliases "
            f"expanded), more than writegate.content.max_input_bytes ({limit}); nothing was "
            "planned",
            details={"input": source, "characters": expanded, "limit": limit},
        )


def apply_edits(doc: Any, overlay: Overlay, *, source: str) -> None:
    """Apply string-replace edits in order; each must match as the spec says."""
    items = doc.get("edits") if isinstance(doc, dict) else doc
    if isinstance(doc, dict):
        unknown = set(doc) - {"intent", "edits"}
        if unknown:
            raise _fail(
                source, "top level", f"unknown key(s) {_names(unknown)}; allowed: intent, edits"
            )
    if not isinstance(items, list) or not items:
        raise PatchParseError(
            f"{source}: an edit list is a non-empty list of {{path, old_string, new_string}}",
            details={"input": source},
        )
    _bound_edits(items, overlay.limits.max_input_bytes, source=source)
    for index, item in enumerate(items):
        where = f"edits[{index}]"
        if not isinstance(item, dict):
            raise _fail(source, where, "must be a mapping")
        unknown = set(item) - _EDIT_KEYS
        if unknown:
            raise _fail(source, where, f"unknown key(s) {_names(unknown)}")
        label = f"{source}: {where}"
        path = normalise_path(text_field(item, "path", source, where), source=label)
        old = text_field(item, "old_string", source, where)
        new = text_field(item, "new_string", source, where)
        replace_all = item.get("replace_all", False)
        if not isinstance(replace_all, bool):
            raise _fail(source, f"{where}.replace_all", "must be true or false")
        edit = Replace(path, old, new, replace_all=replace_all)
        replace_text(overlay, edit, source=source, where=where)
