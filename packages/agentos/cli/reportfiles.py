"""Report files a command writes beside its output (``check --sarif FILE``, ``policy test
--junit FILE``): the path checked before any work, the file replaced atomically after."""

from __future__ import annotations

from pathlib import Path

from agentos.errors import UsageError


def check_report_path(option: str, path: Path) -> None:
    """A ``UsageError`` naming ``option`` when a report could not be written to ``path``
    (checked before the command does anything)."""
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a directory; name a file in it")
    if not path.parent.is_dir():
        raise UsageError(
            f"{option} {str(path)!r}: the folder {str(path.parent)!r} does not exist; create "
            "it or name a file in an existing folder"
        )


def write_report(option: str, path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so readers see the old or the new report."""
    from agentos.statefs import write_atomic

    check_report_path(option, path)
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"{option} {str(path)!r}: {exc.strerror or exc}") from None
