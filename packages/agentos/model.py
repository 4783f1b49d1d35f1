"""The domain models (SPEC §5): file changes, the changeset and the plan file.

Every model is strict, frozen and forbids unknown keys, so a plan file either means exactly one
thing or is refused. ``FileChange`` is a union discriminated on ``op`` with no default.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from agentos.digest import canonical_json, canonical_list_sha256, sha256_hex

PLAN_FORMAT: Literal["agentos.plan/1"] = "agentos.plan/1"
PLAN_FORMAT_PREFIX = "agentos.plan/"
PLAN_FORMAT_VERSION = 1

FileMode = Literal["100644", "100755"]
MODE_REGULAR: FileMode = "100644"
MODE_EXECUTABLE: FileMode = "100755"


def mode_of(permissions: int) -> FileMode:
    """The git mode of a regular file with these permission bits (the owner's x bit)."""
    return MODE_EXECUTABLE if permissions & 0o100 else MODE_REGULAR


RiskLevel = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
RISK_ORDER: tuple[RiskLevel, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
# A plan id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit.
PLAN_ID_REGEX = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
PLAN_ID_PATTERN = re.compile(PLAN_ID_REGEX)
PlanId = Annotated[str, Field(pattern=f"^{PLAN_ID_REGEX}$")]
# The marks agentos's own plan and execution ids start with: an id chosen by hand
# (``--plan-id``) may not start with them (in any case), so that a prefix such as
# ``plan-3e5c`` only ever names an id agentos made.
RESERVED_ID_MARKS = ("exec-", "plan-")

# The WriteGate's rules, in the order it applies them (SPEC §6).
RuleId = Literal[
    "path-safety",
    "forbidden-path",
    "outside-allowed-paths",
    "constraint",
    "secret",
    "binary",
    "always-review",
    "risk",
    "unverified-risk",
]
RULES: tuple[RuleId, ...] = get_args(RuleId)
RelPath = Annotated[str, Field(min_length=1, max_length=4096)]


class Frozen(BaseModel):
    """Base of every agentos model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
        # Each model's validator is built when first used, not on import: a command
        # pays only for the models it touches (start-up, SPEC §11).
        defer_build=True,
    )


class Content(Frozen):
    """A file's full contents: UTF-8 text when it is text, base64 otherwise."""

    encoding: Literal["utf-8", "base64"]
    data: str

    @field_validator("data")
    @classmethod
    def _base64_is_valid(cls, value: str, info: Any) -> str:
        if info.data.get("encoding") == "base64":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"invalid base64 data: {exc}") from None
        return value

    @classmethod
    def from_bytes(cls, data: bytes) -> Content:
        """Pick the encoding: text that is valid UTF-8 without NUL bytes stays readable."""
        if b"\0" not in data:
            try:
                return cls(encoding="utf-8", data=data.decode("utf-8"))
            except UnicodeDecodeError:
                pass
        return cls(encoding="base64", data=base64.b64encode(data).decode("ascii"))

    def to_bytes(self) -> bytes:
        """The exact bytes this content stands for."""
        if self.encoding == "utf-8":
            return self.data.encode("utf-8")
        return base64.b64decode(self.data, validate=True)


class SecretMark(Frozen):
    """A detected secret in withheld content: the pattern id, its 1-based line and what it
    looks like (never the secret itself)."""

    pattern: str
    line: Annotated[int, Field(ge=1)]
    description: str


class WithheldContent(Frozen):
    """New contents left out of the plan file because they hold a detected secret.

    The change keeps its ``sha256`` (the digest of the contents as planned) and this marker
    says why they are missing; such a change can never be written, so the plan can never be
    applied (the WriteGate denies it whatever the policy).
    """

    encoding: Literal["withheld"]
    reason: Literal["secret"]
    bytes: Annotated[int, Field(ge=0)]
    secrets: Annotated[tuple[SecretMark, ...], Field(min_length=1)]

    def to_bytes(self) -> builtins.bytes:
        """Never: the bytes are not in the plan (``DeniedError``, exit 3)."""
        from agentos.errors import DeniedError

        raise DeniedError(
            "this plan's new content was withheld from the plan file (it holds a secret), so "
            "it cannot be written; remove the secret and plan again"
        )


# A change's new contents: the bytes, or the marker of contents withheld from the plan file.
NewContent = Annotated[Content | WithheldContent, Field(discriminator="encoding")]


class CreateChange(Frozen):
    """A file that does not exist yet; the executor refuses if it appears before apply."""

    op: Literal["create"]
    path: RelPath
    mode: FileMode
    content: NewContent
    sha256: Sha256


class ModifyChange(Frozen):
    """New contents (and mode) for an existing file whose pre-image is pinned."""

    op: Literal["modify"]
    path: RelPath
    old_sha256: Sha256
    mode: FileMode
    content: NewContent
    sha256: Sha256


class DeleteChange(Frozen):
    """Removal of an existing file whose pre-image is pinned."""

    op: Literal["delete"]
    path: RelPath
    old_sha256: Sha256


class RenameChange(Frozen):
    """A move of ``from`` (pinned) to ``path`` (absent), with the contents ``path`` gets."""

    op: Literal["rename"]
    from_path: RelPath = Field(alias="from")
    path: RelPath
    old_sha256: Sha256
    mode: FileMode
    content: NewContent
    sha256: Sha256


FileChange = Annotated[
    CreateChange | ModifyChange | DeleteChange | RenameChange, Field(discriminator="op")
]


def changes_checksum(changes: list[dict[str, Any]] | tuple[FileChange, ...]) -> str:
    """``sha256:`` + the hash of the canonical JSON of ``changes`` (SPEC §5), computed one
    change at a time (a plan's changes carry every new content)."""
    plain = (c if isinstance(c, dict) else c.model_dump(mode="json") for c in changes)
    return "sha256:" + canonical_list_sha256(plain)


class ChangeSet(Frozen):
    """The ordered file changes and the checksum that seals them."""

    changes: tuple[FileChange, ...]
    checksum: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


class RiskReason(Frozen):
    """One reason the risk level was raised, with the paths that caused it."""

    level: RiskLevel
    reason: str
    paths: tuple[str, ...] = ()


class Risk(Frozen):
    """The plan's risk level: the highest level any reason raised it to (LOW without reasons)."""

    level: RiskLevel
    reasons: tuple[RiskReason, ...] = ()


# A plan's risk before the WriteGate assessed it (the planner's; the pipeline stamps the gate's).
UNASSESSED = Risk(level="LOW")


class FileStat(Frozen):
    """Lines added and removed in one path (0/0 for binary files)."""

    path: str
    added: int
    removed: int


class Stats(Frozen):
    """Size of the change; ``bytes`` counts the new contents carried by the plan."""

    files: int
    added_lines: int
    removed_lines: int
    bytes: int
    per_file: tuple[FileStat, ...] = ()


class Source(Frozen):
    """One input the plan was built from (file name or ``-``, its format and hash)."""

    name: str
    format: Literal["diff", "codex", "manifest", "edits", "claude", "mcp", "aider"]
    sha256: Sha256
    bytes: int


CommitId = Annotated[str, Field(pattern=r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")]
PreImages = Literal["working-tree", "commit"]


class Base(Frozen):
    """What the plan was made against.

    ``git_head`` is the commit the workspace was at when planning (read from ``.git``), or
    None. A plan made from git (``plan --git`` / ``--staged``) also names ``commit``, the
    commit it applies to, and has ``pre_images`` "commit": every pre-image is that commit's
    blob, so the plan expects the files it touches to be clean (as committed there) where it
    is applied. Other plans read their pre-images from the working tree as it was
    ("working-tree", the default); they leave both keys out of the plan file, which reads
    as it did before the keys existed.
    """

    git_head: str | None = None
    commit: CommitId | None = None
    pre_images: PreImages = "working-tree"

    @model_validator(mode="after")
    def _commit_names_the_pre_images(self) -> Base:
        if self.pre_images == "commit" and self.commit is None:
            raise ValueError("pre_images 'commit' needs the commit id in 'commit'")
        return self

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.commit is None:
            data.pop("commit", None)
        if self.pre_images == "working-tree":
            data.pop("pre_images", None)
        return data


class ChangePlan(Frozen):
    """A plan file (``agentos.plan/1``): self-contained, checksummed, reviewable.

    ``changeset.checksum`` seals the changes; ``plan_digest`` seals everything else with it
    (id, intent, author, time, base, risk, stats, sources), so that a reviewer and the
    approvals bound to a plan see exactly what was planned.
    """

    format: Literal["agentos.plan/1"]
    plan_id: PlanId
    intent: str
    author: str
    created_at: str
    base: Base
    risk: Risk
    stats: Stats
    sources: tuple[Source, ...] = ()
    changeset: ChangeSet
    plan_digest: Digest


UNSEALED: str = "sha256:" + "0" * 64


def plan_digest_of(doc: dict[str, Any]) -> str:
    """``sha256:`` + the hash of a plan document's canonical JSON without ``plan_digest``,
    its changes standing in by their checksum (which already seals them)."""
    changeset = doc.get("changeset")
    checksum = changeset.get("checksum") if isinstance(changeset, dict) else None
    sealed = {k: v for k, v in doc.items() if k not in ("plan_digest", "changeset")}
    sealed["changeset"] = {"checksum": checksum}
    return "sha256:" + sha256_hex(canonical_json(sealed))


def seal_plan(plan: ChangePlan, **updates: Any) -> ChangePlan:
    """``plan`` with ``updates`` applied and its ``plan_digest`` computed anew."""
    if updates:
        plan = plan.model_copy(update=updates)
    doc = plan.model_dump(
        mode="json", exclude={"plan_digest": True, "changeset": {"changes": True}}
    )
    return plan.model_copy(update={"plan_digest": plan_digest_of(doc)})


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of the plan format, as published in ``docs/schemas/plan.schema.json``."""
    schema = ChangePlan.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://agentos.dev/schemas/plan.schema.json"
    schema["title"] = "agentos plan file (agentos.plan/1)"
    return schema


DecisionKind = Literal["ALLOW", "NEED_APPROVAL", "DENY"]
Severity = Literal["NEED_APPROVAL", "DENY"]
DECISION_ORDER: tuple[DecisionKind, ...] = ("ALLOW", "NEED_APPROVAL", "DENY")


class Finding(Frozen):
    """One reason the WriteGate did not simply allow a plan (SPEC §6).

    ``path`` is None for findings about the plan as a whole (its size, its risk); ``pattern``
    names the policy pattern that matched; ``line`` points into the new content (secrets).
    """

    rule: str
    path: str | None
    severity: Severity
    message: str
    pattern: str | None = None
    line: int | None = None


class Decision(Frozen):
    """The WriteGate's verdict on one plan under one policy: the most severe finding wins."""

    decision: DecisionKind
    findings: tuple[Finding, ...]
    risk: Risk
    plan_id: str
    checksum: str
    policy_digest: str


class Approval(Frozen):
    """A person's approval of one plan, bound to its exact bytes and the policy (SPEC §7).

    ``plan_digest`` binds it to the whole plan (author, intent, ...), not only its changes.
    ``signature`` is an HMAC-SHA256 (``AGENTOS_APPROVAL_KEY``), ``ssh_signature`` an SSH
    signature (``ssh-keygen -Y sign -n agentos``) checked against ``approvals.allowed_signers``;
    both cover the approval without its signatures and seal. ``seal`` is the workspace key's
    seal of an approval stored under ``.agentos/approvals/``.
    """

    plan_id: PlanId
    checksum: Digest
    plan_digest: Digest
    approver: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
    approved_at: str
    comment: str = ""
    policy_digest: Digest
    signature: Annotated[str, Field(pattern=r"^hmac-sha256:[0-9a-f]{64}$")] | None = None
    ssh_signature: Annotated[str, Field(max_length=16384)] | None = None
    seal: Annotated[str, Field(pattern=r"^hmac-sha256:[0-9a-f]{64}$")] | None = None
