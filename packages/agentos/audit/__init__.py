"""The hash-chained, append-only audit trail and the views folded from it."""
