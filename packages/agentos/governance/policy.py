"""The policy model (SPEC §6, §9): every key of ``agent/policies/default.yaml``, strictly typed.

Defaults equal the shipped default policy (a test keeps them equal), so a policy file may leave
out whatever it does not change. Unknown keys and wrong types are errors; ``policyfile`` turns
them into ``file:line: key: message``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from agentos.digest import canonical_json, sha256_hex
from agentos.model import Frozen, RiskLevel
from agentos.verify.spec import HealthCheckSpec, NonNegativeSeconds, Pattern, PositiveInt, Seconds

BinaryPolicy = Literal["allow", "review", "deny"]

ALL_RISKS: tuple[RiskLevel, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def _risks(*levels: RiskLevel) -> list[RiskLevel]:
    return list(levels)


class RiskRuleSpec(Frozen):
    """Paths whose change raises the plan's risk to ``level``, with the reason shown."""

    paths: list[Pattern] = Field(min_length=1)
    level: RiskLevel
    reason: str = Field(min_length=1)


class SizeRisk(Frozen):
    """Files touched and lines changed from which a plan is MEDIUM or HIGH risk."""

    medium_files: PositiveInt = 10
    high_files: PositiveInt = 30
    medium_lines: PositiveInt = 300
    high_lines: PositiveInt = 2000


class ContentRules(Frozen):
    """Checks of the new contents: secrets, the largest file, binary files."""

    detect_secrets: bool = True
    max_file_bytes: PositiveInt = 1_048_576
    binary_files: BinaryPolicy = "review"
    # The largest input (patch, manifest, edit list) agentos reads to plan from, in bytes.
    max_input_bytes: PositiveInt = 67_108_864


def _default_risk_rules() -> list[RiskRuleSpec]:
    return [
        RiskRuleSpec(
            paths=["**/migrations/**", "**/*.sql"], level="HIGH", reason="database schema change"
        ),
        RiskRuleSpec(paths=[".github/workflows/**", ".ci/**"], level="HIGH", reason="CI pipeline"),
    ]


class WriteGateRules(Frozen):
    """What the WriteGate refuses, and what needs a person's approval."""

    forbidden_paths: list[Pattern] = Field(
        default_factory=lambda: [
            ".env",
            ".env.*",
            "**/*.pem",
            "**/*.key",
            "**/id_rsa*",
            "**/.ssh/**",
        ]
    )
    require_approval_for_risk: list[RiskLevel] = Field(
        default_factory=lambda: _risks("HIGH", "CRITICAL")
    )
    deny_risk: list[RiskLevel] = Field(default_factory=list)
    risk_rules: list[RiskRuleSpec] = Field(default_factory=_default_risk_rules)
    size_risk: SizeRisk = Field(default_factory=SizeRisk)
    content: ContentRules = Field(default_factory=ContentRules)


class Constraints(Frozen):
    """Hard limits of one plan and one apply."""

    max_files_touched: PositiveInt = 50
    max_patch_lines: PositiveInt = 5000
    max_execution_time: Seconds = 300
    max_step_time: Seconds = 60


class Concurrency(Frozen):
    """One apply at a time per repository; how long to wait for the lock."""

    enabled: bool = True
    lock_scope: Literal["repository"] = "repository"
    lock_timeout: NonNegativeSeconds = 600


class Idempotency(Frozen):
    """Re-running a committed plan is a no-op while its record lives."""

    enabled: bool = True
    key_format: Literal["plan_id + changeset.checksum"] = "plan_id + changeset.checksum"
    cached_result_ttl: NonNegativeSeconds = 3600


class Backups(Frozen):
    """How many executions keep their backups (and so can be rolled back)."""

    keep: PositiveInt = 50


class RollbackRules(Frozen):
    """Whether rolling back a committed execution needs approval like a new change."""

    require_approval: bool = False


class ExecutorRules(Frozen):
    """Where the Executor may write and how it applies."""

    allowed_paths: list[Pattern] = Field(
        default_factory=lambda: [
            "apps/**",
            "packages/**",
            "docs/**",
            "tests/**",
            "src/**",
            "agent/**",
            "README.md",
        ]
    )
    constraints: Constraints = Field(default_factory=Constraints)
    require_health_checks_for_risk: list[RiskLevel] = Field(
        default_factory=lambda: _risks("MEDIUM", "HIGH", "CRITICAL")
    )
    require_verification_for_risk: list[RiskLevel] = Field(
        default_factory=lambda: _risks(*ALL_RISKS)
    )
    always_review_categories: list[Pattern] = Field(
        default_factory=lambda: [
            "**/*schema*.py",
            "**/security/**",
            "agent/policies/**",
            "packages/executor/**",
            "packages/governance/**",
        ]
    )
    concurrency: Concurrency = Field(default_factory=Concurrency)
    idempotency: Idempotency = Field(default_factory=Idempotency)
    durability: Literal["full", "none"] = "full"
    backups: Backups = Field(default_factory=Backups)
    rollback: RollbackRules = Field(default_factory=RollbackRules)


class Verification(Frozen):
    """Syntax checks of changed .py / .json / .yaml / .toml files after writing."""

    syntax_checks: bool = True


class ApprovalRules(Frozen):
    """Who may approve, how many distinct approvers, and whether approvals are signed."""

    min_approvals: PositiveInt = 1
    allowed_approvers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    forbid_self_approval: bool = True
    require_signature: bool = False
    # A file of SSH public keys in git's allowed-signers format; when set, only approvals
    # signed (``approve --sign KEY``) by a principal listed there count.
    allowed_signers: Annotated[str, Field(min_length=1)] | None = None


class Governance(Frozen):
    """Whether this policy may be replaced for one command with ``--policy``."""

    allow_policy_override: bool = False


class AgentRules(Frozen):
    """How ``agentos hook`` answers agents and what the end-of-turn sweep does (SPEC §13)."""

    # ``deny``: any failure inside agentos answers deny (fail closed); ``allow`` lets the write
    # through instead, and records ``hook.failed_open`` in the audit trail.
    on_error: Literal["deny", "allow"] = "deny"
    # Files changed outside agentos, found at the end of a turn: ``report`` tells the agent and
    # the user; ``block`` also tells the agent to stop until someone accepts them.
    bypass: Literal["report", "block"] = "report"
    # The longest a hook waits for the workspace lock before it answers deny (exit 75 inside).
    lock_timeout: NonNegativeSeconds = 10
    # Tool names (shell-style patterns) the hook lets through without planning, beyond the
    # read-only and shell tools it knows; any other tool it cannot plan is denied.
    passthrough_tools: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    # Approvals through ``agentos mcp``: ``never`` (approve in a terminal or CI only), ``elicit``
    # (a NEED_APPROVAL result asks the client's user through MCP elicitation), ``tool`` (also
    # the ``approve`` tool, for clients a person drives).
    mcp_approvals: Literal["never", "elicit", "tool"] = "never"


class StoreSettings(Frozen):
    """Where the shared control state lives (SPEC §14, docs/scale.md): unset, the files under
    ``.agentos/``; a ``postgresql://`` URL or libpq ``key=value`` string, a PostgreSQL
    database. ``AGENTOS_STORE`` wins over it. Keep passwords out of it (use ``~/.pgpass``)."""

    url: Annotated[str, Field(min_length=1)] | None = None


class Policy(Frozen):
    """A whole policy file (``version: 1``)."""

    version: Literal[1] = 1
    writegate: WriteGateRules = Field(default_factory=WriteGateRules)
    executor: ExecutorRules = Field(default_factory=ExecutorRules)
    verification: Verification = Field(default_factory=Verification)
    health_checks: list[HealthCheckSpec] = Field(default_factory=list)
    approvals: ApprovalRules = Field(default_factory=ApprovalRules)
    governance: Governance = Field(default_factory=Governance)
    agents: AgentRules = Field(default_factory=AgentRules)
    store: StoreSettings = Field(default_factory=StoreSettings)

    @model_validator(mode="after")
    def _unique_check_names(self) -> Policy:
        seen: set[str] = set()
        for check in self.health_checks:
            if check.name in seen:
                raise ValueError(f"two health checks are named {check.name!r}; names must differ")
            seen.add(check.name)
        return self

    def digest(self) -> str:
        """``sha256:`` + the hash of the canonical parsed policy (comments and order aside).

        A section added after a policy was written (``agents``) counts only when it differs
        from its defaults, so upgrading agentos keeps every digest, and the approvals bound
        to it, valid. Where the shared state is kept (``store``) is not a rule, and never
        counts.
        """
        data = self.model_dump(mode="json")
        del data["store"]
        if self.agents == AgentRules():
            del data["agents"]
        return "sha256:" + sha256_hex(canonical_json(data))


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file, as published in ``docs/schemas/policy.schema.json``."""
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://agentos.dev/schemas/policy.schema.json"
    schema["title"] = "agentos policy (agent/policies/default.yaml, version 1)"
    return schema
