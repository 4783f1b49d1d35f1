"""Text from plans and files shown to a person, never obeyed by the terminal.

A plan's intent, its author, paths, diff lines, finding messages and check output are data
someone else wrote. Printed as they are, an escape sequence (``ESC[2J`` clears the screen,
``ESC[2K ESC[1G`` erases what came before on the line) or a bidirectional override (U+202E
shows ``exe.png`` for ``gnp.exe``) would let that someone hide text from the person approving
it. So every human rendering shows them instead, as ``cat -v`` and ``less`` do: C0 controls
and DEL in caret notation (``ESC`` is ``^[``, ``DEL`` ``^?``), C1 controls and the
bidirectional marks, embeddings, overrides and isolates as ``<U+XXXX>``. A tab stays a tab.

``visible`` is applied where the views print such text (a line break is shown too, as ``^J``,
where a field is one line); ``VisibleText``, a render hook on every console agentos prints
to, applies it to whatever text any view prints, so that nothing slips through (rich's own
styling is added after it, untouched). ``--json`` output needs none of this: JSON escapes
control characters, and it keeps the text exact.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult

_FORMAT = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Everything shown otherwise but tab; line breaks kept (``_IN_LINES``) or shown (``_IN_LINE``).
_IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]")
_IN_LINE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_FORMAT}]")


def _shown(match: re.Match[str]) -> str:
    char = match.group(0)
    point = ord(char)
    if point < 0x20:
        return "^" + chr(point + 0x40)
    if point == 0x7F:
        return "^?"
    return f"<U+{point:04X}>"


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` with its control and bidirectional formatting characters shown (see the
    module's docstring); ``lines``: line breaks stay line breaks."""
    pattern = _IN_LINES if lines else _IN_LINE
    return pattern.sub(_shown, text) if pattern.search(text) else text


class _Shown:
    """A renderable whose text segments are made ``visible`` (rich's control segments and
    line breaks are left as they are)."""

    def __init__(self, inner: ConsoleRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        for segment in console.render(self.inner, options):
            if segment.control is None and _IN_LINES.search(segment.text):
                yield Segment(visible(segment.text, lines=True), segment.style)
            else:
                yield segment


def visible_text_hook() -> RenderHook:
    """A rich render hook that shows control characters in everything a console prints."""
    from rich.console import RenderHook

    class VisibleText(RenderHook):
        def process_renderables(
            self, renderables: list[ConsoleRenderable]
        ) -> list[ConsoleRenderable]:
            return [_Shown(renderable) for renderable in renderables]

    return VisibleText()
