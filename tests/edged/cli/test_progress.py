"""`edged backup --now`'s progress: one line rewritten on a terminal, few lines into a log."""

from __future__ import annotations

import io

from edged.cli import progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def follow(out: io.StringIO) -> str:
    shown = ""
    for p in range(0, 100, 5):
        shown = progress.show(f"backup : EN COURS depuis {p} s, {p} %", shown, out)
    shown = progress.show("backup : SUSPENDUE (batterie) après 2 min", shown, out)
    progress.end(shown, out)
    return out.getvalue()


def test_a_terminal_gets_one_line_rewritten_in_place():
    text = follow(Tty())
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, closed at the end
    assert text.count("\r") == 21 and "95 %" in text


def test_a_pipe_or_log_gets_a_line_per_change_of_wording_not_per_percent():
    lines = follow(io.StringIO()).splitlines()
    assert lines == [
        "backup : EN COURS depuis 0 s, 0 %",
        "backup : SUSPENDUE (batterie) après 2 min",
    ]
