"""The config file as every command reads it: loaded, or each problem printed with its key path."""

from __future__ import annotations

import sys

from edged.config.loader import ConfigError, config_path, load
from edged.config.settings import Config


def load_or_report(path_arg: str | None) -> Config | None:
    """The config at `path_arg` (or $EDGED_CONFIG, or the default); None after printing why not."""
    path = config_path(path_arg)
    try:
        return load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem.line(exc.source), file=sys.stderr)
        return None
