"""Verification after the writes: syntax checks and health checks (retries, breakers)."""
