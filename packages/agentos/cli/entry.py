"""The ``agentos`` console script: answers ``--version`` before importing anything heavy."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run agentos with ``argv`` (default: the process arguments) and return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from agentos import __version__

        sys.stdout.write(f"agentos {__version__}\n")
        return 0
    from agentos.cli.app import run

    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
