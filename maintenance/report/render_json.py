"""The report as JSON: every figure, keys = the dataclass field names (stable), None = null.

This is also the input of `fleet.combine` (national comparison), so a site's JSON carries
`schema` to let FENASCOM's tools tell versions apart.
"""

from __future__ import annotations

import dataclasses
import enum
import json

from maintenance.report.model import Report

SCHEMA = "edged.report/1"


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_dict(report: Report) -> dict:
    return {"schema": SCHEMA, **_plain(dataclasses.asdict(report))}


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
