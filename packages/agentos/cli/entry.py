"""The ``agentos`` console script: answers ``--version`` and ``hook`` before importing
anything heavy."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run agentos with ``argv`` (default: the process arguments) and return the exit code."""
    from agentos.cli.argv import arrange

    # Global options may come before the command word: ``agentos -C ws hook claude``.
    args = arrange(sys.argv[1:] if argv is None else argv).args
    if args in (["--version"], ["-V"]):
        from agentos import __version__

        sys.stdout.write(f"agentos {__version__}\n")
        return 0
    if args[:1] == ["hook"] and not {"-h", "--help"} & set(args):
        # An agent runs this on every tool call: answered without loading typer or rich.
        from agentos.cli.hookentry import run_hook

        return run_hook(args[1:])
    from agentos.cli.app import run

    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
