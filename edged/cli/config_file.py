"""The config file as every command reads it: loaded, or each problem printed with its key path."""

from __future__ import annotations

import sys

from edged.cli import config_problems, i18n
from edged.config.loader import ConfigError, ConfigUnreadable, config_path, load
from edged.config.settings import Config


def load_or_report(path_arg: str | None) -> Config | None:
    """The config at `path_arg` (or $EDGED_CONFIG, or the default); None after printing why not."""
    path = config_path(path_arg)
    try:
        return load(path)
    except ConfigUnreadable as exc:  # a person, not a technician: what to do, in their language
        lang = i18n.language(None)
        message = i18n.t("config_unreadable", lang, group=exc.group)
        colon = i18n.tr(":", lang)
        print(
            f"{exc.source}{colon} {i18n.tr(config_problems.FILE, lang)}{colon} {message}",
            file=sys.stderr,
        )
        return None
    except ConfigError as exc:
        print(config_problems.report(exc, i18n.language(None)), file=sys.stderr)
        return None
