"""``agentos serve``: hook events over loopback HTTP, answered by the warm hook pipeline.

A front-end like ``agentos.hooks``: it translates an HTTP request into one
``agentos.hooks.run.answer`` call and the answer back into an HTTP response, nothing more.
``answers`` maps a command hook's answer onto HTTP, ``token`` keeps the bearer token,
``policies`` keeps the parsed policy while its file is unchanged, ``server`` is the server.
"""

from __future__ import annotations

# Where ``agentos serve`` listens unless told otherwise (and ``integrate --http`` points).
DEFAULT_PORT = 7345
