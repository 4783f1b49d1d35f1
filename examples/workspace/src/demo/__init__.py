"""demo-service: a tiny package the agentos demo changes."""
