"""``agentos mcp``: the governed pipeline as a stdio MCP server (SPEC §13).

``catalog`` names the tools, their argument models and output schemas; ``calls`` runs one tool
call through ``agentos.pipeline`` and says what to answer; ``server`` is the glue to the MCP
SDK (the ``mcp`` package, installed with ``agentos[mcp]``): the stdio transport, elicitation,
one call at a time, and shutdown on a signal or a disconnect.
"""
