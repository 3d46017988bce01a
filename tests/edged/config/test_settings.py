"""Every section's settings: frozen, typed (no `Any` field), and defined in its section's module
beside its checks, so a newcomer finds a key's default and its rule in one file."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import edged.config
from edged.config.settings import Config


def settings_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(edged.config.__path__):
        module = importlib.import_module(f"edged.config.{info.name}")
        found += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and dataclasses.is_dataclass(obj)
            and obj.__module__ == module.__name__
            and obj.__name__ != "Problem"
        ]
    return found


def test_every_settings_dataclass_is_frozen_and_has_no_any_field():
    classes = settings_classes()
    assert Config in classes and len(classes) >= 20
    loose = [
        f"{cls.__module__}.{cls.__name__}.{f.name}: {f.type}"
        for cls in classes
        for f in dataclasses.fields(cls)
        if "Any" in str(f.type)
    ]
    assert not loose, loose
    assert all(cls.__dataclass_params__.frozen for cls in classes)


def test_each_section_of_config_is_defined_beside_its_checks():
    """Config's parts come from the section modules, not from settings.py itself."""
    hints = {f.name: f.type for f in dataclasses.fields(Config)}
    assert "Any" not in str(hints)
    parts = [
        cls
        for cls in settings_classes()
        if cls is not Config and cls.__module__ == "edged.config.settings"
    ]
    assert not parts, parts
