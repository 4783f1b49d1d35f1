"""The WriteGate: policy, decisions, approvals and policy tooling."""
