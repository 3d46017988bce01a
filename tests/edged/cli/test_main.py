"""The `edged` command loads only the module of the command given (edged.cli.main.LAZY)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from edged.cli import main


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: choice.help for choice in sub._choices_actions}


@pytest.mark.parametrize("command", sorted(main.LAZY))
def test_each_placeholder_says_what_the_real_command_says(command):
    real = _helps(main._parser(command))[command]
    assert real == main.LAZY[command][1]
    assert _helps(main._parser(None))[command] == real


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--config", "x.toml"], "run"),
        (["--log-level", "WARNING", "alarms", "ack", "3"], "alarms"),
        (["backup", "--now"], "backup"),
        (["--log-level", "INFO"], None),
        (["status", "--json"], "status"),
    ],
)
def test_the_command_is_the_first_word_that_names_one(argv, expected):
    assert main.chosen(argv) == expected


def test_run_and_status_leave_the_other_commands_unloaded():
    code = (
        "import sys\n"
        "from edged.cli import main\n"
        "for command in ('run', 'status', 'check-config'):\n"
        "    main._parser(command).parse_args([command])\n"
        "prefixes = ('edged.cli.', 'maintenance.report')\n"
        "print(sorted(m for m in sys.modules if m.startswith(prefixes)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # the parser and its messages (usage, i18n, catalogue): no command's module, no report code
    expected = ["edged.cli.catalogue", "edged.cli.i18n", "edged.cli.main", "edged.cli.usage"]
    assert out.stdout.strip() == str(expected)


@pytest.mark.parametrize(
    "argv",
    [["alarms", "--help"], ["backup", "--help"], ["schedule", "--help"], ["report", "--help"]],
)
def test_a_lazy_command_parses_with_its_own_options(argv):
    run = subprocess.run(
        [sys.executable, "-m", "edged.cli", *argv], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert f"usage: edged {argv[0]}" in run.stdout


def test_an_unknown_command_is_refused_without_loading_any():
    run = subprocess.run(
        [sys.executable, "-m", "edged.cli", "frobnicate"],
        capture_output=True,
        text=True,
        env={**os.environ, "EDGED_LANG": "en"},
    )
    assert run.returncode == 2 and "'frobnicate' is not a choice" in run.stderr
