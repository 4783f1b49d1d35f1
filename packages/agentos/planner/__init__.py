"""The Planner: turns diffs, Codex patches, manifests and edit lists into a pinned ChangePlan."""
