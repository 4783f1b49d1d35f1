"""The agent front-end: Claude Code, Codex and Gemini CLI reach agentos through their hooks.

An agent runs ``agentos hook AGENT`` with one event on stdin before and after each file write
and at the edges of each turn; this package translates those events into pipeline calls and
the pipeline's answers back into each agent's protocol. It also installs the hooks into an
agent's settings (``agentos integrate``) and proves, with a canary event, that a forbidden
write is really refused (``agentos doctor``).
"""
