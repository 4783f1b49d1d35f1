"""``python -m agentos`` runs the CLI."""

from __future__ import annotations

import sys

from agentos.cli.entry import main

sys.exit(main())
