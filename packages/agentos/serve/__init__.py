"""``agentos serve``: hook events over loopback HTTP, answered by the warm hook pipeline.

A front-end like ``agentos.hooks``: it translates an HTTP request into one
``agentos.hooks.run.answer`` call and the answer back into an HTTP response, nothing more.
``answers`` maps a command hook's answer onto HTTP, ``token`` keeps the bearer token,
``server`` is the server; the parsed policy is kept by ``governance.policyfile.PolicyCache``.
"""

from __future__ import annotations

# Where ``agentos serve`` listens unless told otherwise (and ``integrate --http`` points):
# on TCP, always this loopback address.
DEFAULT_PORT = 7345
LOOPBACK = "127.0.0.1"
# Each agent's events are posted to its own path.
HOOK_PREFIX = "/hook/"


def hook_path(agent: str) -> str:
    """The path ``agent``'s events are posted to."""
    return f"{HOOK_PREFIX}{agent}"
