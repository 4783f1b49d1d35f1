"""Loading a policy file: YAML with line numbers, strict validation, ``file:line: key: message``.

Pydantic reports locations such as ``('writegate', 'content', 'binary_files')``; people read
policy files by line. The YAML is composed into nodes first, every key and list item's line is
indexed by its location, and each validation error is reported at the line of the deepest
location the file has. Duplicate keys, which YAML loaders silently merge, are errors too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agentos.errors import PolicyError, UsageError
from agentos.governance.policy import Policy
from agentos.workspace import Workspace

if TYPE_CHECKING:
    from pydantic import BaseModel

Location = tuple[str | int, ...]
M = TypeVar("M", bound="BaseModel")
PACKAGED_POLICY = "data/default_policy.yaml"
PACKAGED_NAME = "(packaged default policy)"


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy, where it came from, and its digest."""

    policy: Policy
    source: str
    digest: str
    path: Path | None


def packaged_policy_text() -> str:
    """The default policy shipped with agentos (identical to ``agent/policies/default.yaml``)."""
    return resources.files("agentos").joinpath(PACKAGED_POLICY).read_text("utf-8")


def resolve_policy_path(explicit: Path | None, workspace: Workspace | None) -> Path | None:
    """``--policy`` if given, else the workspace's policy file if it exists, else None."""
    if explicit is not None:
        return explicit
    if workspace is not None and workspace.policy_path.is_file():
        return workspace.policy_path
    return None


def load_policy(explicit: Path | None = None, workspace: Workspace | None = None) -> LoadedPolicy:
    """The policy in force: ``--policy``, else the workspace's, else the packaged default."""
    path = resolve_policy_path(explicit, workspace)
    if path is None:
        return _packaged()
    return _parsed(path, _policy_bytes(path))


class PolicyCache:
    """The policy in force for a long-lived front-end (``agentos mcp``, ``agentos serve``).

    Each ``current()`` reads the file again, so an edit is honoured by the very next call,
    and parses it again only when its bytes changed: the digest a decision carries is always
    the one of the policy it was made under.
    """

    def __init__(self, explicit: Path | None, workspace: Workspace) -> None:
        self.explicit = explicit
        self.workspace = workspace
        self._last: tuple[Path | None, bytes, LoadedPolicy] | None = None

    def current(self) -> LoadedPolicy:
        """The policy as its file reads now (a ``PolicyError`` when it no longer parses)."""
        path = resolve_policy_path(self.explicit, self.workspace)
        data = b"" if path is None else _policy_bytes(path)
        last = self._last
        if last is not None and last[0] == path and last[1] == data:
            return last[2]
        loaded = _packaged() if path is None else _parsed(path, data)
        self._last = (path, data, loaded)
        return loaded


def _packaged() -> LoadedPolicy:
    policy = parse_policy(packaged_policy_text(), source=PACKAGED_NAME)
    return LoadedPolicy(policy, PACKAGED_NAME, policy.digest(), None)


def _policy_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"policy file {str(path)!r} does not exist; pass an existing file with --policy "
            "or create one with 'agentos init'"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"policy file {str(path)!r} is a directory, not a YAML file") from None
    except OSError as exc:
        raise UsageError(f"cannot read policy file {str(path)!r}: {exc.strerror}") from None


def _parsed(path: Path, data: bytes) -> LoadedPolicy:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            [f"{path}: the file is not UTF-8 text (byte {exc.start})"], source=str(path)
        ) from None
    policy = parse_policy(text, source=str(path))
    return LoadedPolicy(policy, str(path), policy.digest(), path)


@dataclass(frozen=True)
class PolicyUse:
    """Which policy a command runs under, and whether it replaces the workspace's own."""

    source: str
    digest: str
    override: bool

    def row(self) -> dict[str, object]:
        """As results and audit events show it."""
        return {"source": self.source, "digest": self.digest, "override": self.override}


def policy_use(loaded: LoadedPolicy, workspace: Workspace, *, command: str) -> PolicyUse:
    """How ``loaded`` relates to the workspace's own policy; refuses a pinned override.

    The workspace's own policy is ``agent/policies/default.yaml`` if it exists, else the
    packaged default. Running under another one (``--policy`` with other rules) is an
    override: always recorded, and refused (``PolicyOverrideError``, exit 3) when the
    workspace's own policy file sets ``governance.allow_policy_override: false``.
    """
    from agentos.errors import PolicyOverrideError

    own_path = resolve_policy_path(None, workspace)
    same_file = (
        own_path is not None
        and loaded.path is not None
        and (loaded.path.resolve() == own_path.resolve())
    )
    own = (
        loaded
        if same_file or (own_path is None and loaded.path is None)
        else (load_policy(None, workspace))
    )
    override = own.digest != loaded.digest
    if override and own.path is not None and not own.policy.governance.allow_policy_override:
        raise PolicyOverrideError(
            f"--policy {loaded.source}: this workspace pins its own policy ({own.source} sets "
            f"governance.allow_policy_override: false), so '{command}' runs only under it — "
            "drop --policy, or change the workspace's policy through a reviewed plan",
            details={"policy": loaded.source, "workspace_policy": own.source},
        )
    return PolicyUse(loaded.source, loaded.digest, override)


def parse_policy(text: str, *, source: str) -> Policy:
    """Validate policy ``text``; ``PolicyError`` lists every problem as ``file:line: key: msg``."""
    data, lines = load_yaml_with_lines(text, source=source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(
            [f"{source}:1: (top): a policy is a mapping of keys (version, writegate, ...)"],
            source=source,
        )
    return validate_located(Policy, data, lines, source=source)


def validate_located(model: type[M], data: Any, lines: dict[Location, int], *, source: str) -> M:
    """``model.model_validate(data)`` with errors reported at their YAML lines."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        located = [
            _describe(model, error, lines, source)
            for error in exc.errors(include_url=False, include_input=False)
        ]
        # In file order, as a person reads the file (pydantic reports in field order).
        located.sort(key=lambda item: item[0])
        raise PolicyError([text for _, text in located], source=source) from None


def load_yaml_with_lines(text: str, *, source: str) -> tuple[Any, dict[Location, int]]:
    """Parse YAML safely, returning the data and the line (1-based) of each location."""
    import yaml

    # libyaml's parser when PyYAML has it: about ten times faster on the packaged policy
    # (0.7 ms against 8.6), with the same nodes and marks; the pure-Python one otherwise.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Location, int] = {(): node.start_mark.line + 1}
        _index(node, (), lines, source)
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        # An offset in characters (Python's reader) or in bytes of UTF-8 (libyaml's).
        if isinstance(loader, yaml.reader.Reader):
            before = text[: exc.position]
        else:
            before = text.encode("utf-8")[: exc.position].decode("utf-8", "replace")
        at = before.count("\n") + 1
        problem = f"character #x{exc.character:04x} is not allowed in YAML"
        raise PolicyError([f"{source}:{at}: (yaml): {problem}"], source=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise PolicyError([f"{source}{line}: (yaml): {problem}"], source=source) from None
    except yaml.YAMLError as exc:
        raise PolicyError([f"{source}: (yaml): {exc}"], source=source) from None
    finally:
        loader.dispose()
    return data, lines


def _index(node: Any, location: Location, lines: dict[Location, int], source: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = _dotted((*location, key))
                raise PolicyError(
                    [f"{source}:{line}: {where}: duplicate key (first at line {seen[key]})"],
                    source=source,
                )
            seen[key] = line
            lines[(*location, key)] = line
            _index(value_node, (*location, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*location, index)] = item.start_mark.line + 1
            _index(item, (*location, index), lines, source)


def _describe(
    model: type[Any], error: Any, lines: dict[Location, int], source: str
) -> tuple[int, str]:
    location: Location = tuple(
        part for part in error["loc"] if not (isinstance(part, str) and _is_union_tag(part))
    )
    line = lines.get(())
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            line = lines[location[:end]]
            break
    key = _dotted(location) or "(top)"
    message = str(error["msg"])
    if error["type"] == "extra_forbidden" and location:
        message = _unknown_key_message(model, location)
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    return line or 0, f"{source}:{line}: {key}: {message}"


def _is_union_tag(part: str) -> bool:
    # Pydantic adds the member type of a union to the location ("list[str]", "int", ...).
    return "[" in part or part in ("int", "float", "str", "bool", "function-after")


def _dotted(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _unknown_key_message(root: type[Any], location: Location) -> str:
    """'unknown key' with the keys allowed at that level and the closest one."""
    model: Any = root
    for part in location[:-1]:
        if isinstance(part, int):
            continue
        field = _keys_of(model).get(str(part)) if hasattr(model, "model_fields") else None
        model = _model_of(field.annotation) if field is not None else None
        if model is None:
            return "unknown key"
    known = sorted(_keys_of(model))
    guess = difflib.get_close_matches(str(location[-1]), known, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"unknown key (allowed here: {', '.join(known)}){hint}"


def _keys_of(model: Any) -> dict[str, Any]:
    """A model's fields by the key a file spells them with (the alias, where there is one)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _model_of(annotation: Any) -> Any:
    """The pydantic model inside ``annotation`` (``X``, ``list[X]``, ``X | None``)."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
