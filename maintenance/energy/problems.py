"""The error a settings object of the energy rules raises when its fields disagree: each problem
apart, so that a config check can report (and translate) them one by one."""

from __future__ import annotations


class Inconsistent(ValueError):
    """`subject`'s fields disagree; `problems` says each way, in English (the config's problem
    catalogue translates each)."""

    def __init__(self, subject: str, problems: list[str]) -> None:
        super().__init__(f"{subject}: " + "; ".join(problems))
        self.subject = subject
        self.problems = tuple(problems)
