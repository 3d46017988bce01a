"""The summary of a finished report run goes to `P/report/{month}` for the month it reported,
whatever the main loop decides meanwhile.

Once the run ended its slot is idle, and the next tick (every second) finds the month's files
written and sets the slot's month to None ("nothing due"). The watcher thread read the month
only after storing the result (a Writer round trip): under load the tick came in between and
the summary was never published (tests/e2e/test_jobs.py's report test failed about one run in
four on a busy machine).
"""

from __future__ import annotations

import time

from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.power.energy_view import EnergyView
from edged.power.jobs.supervisor import JobSupervisor
from edged.power.service import DEFAULT_REPORT
from edged.services.report_files import FORMATS, due_month, file_name
from telemetry.writer import Writer


def test_a_report_run_is_published_for_its_month_even_when_a_tick_comes_first(tmp_path):
    config = Config(SiteConfig("kati"), StorageConfig(path=str(tmp_path / "edged.db")))
    reports = tmp_path / "reports"
    reports.mkdir()
    writer = Writer(config.storage.path, publish_interval=60.0, commit_interval=3600.0)
    writer.start()
    try:
        jobs = JobSupervisor(
            config,
            (DEFAULT_REPORT,),
            writer,
            None,
            EnergyView(config),
            lambda: True,
            tmp_path / "locks",
            reports,
        )
        month = due_month(time.time(), True, reports, "kati")
        assert month is not None
        published: list[str] = []
        jobs.on_report = lambda m, _dir: published.append(m)
        slot = jobs.slots[DEFAULT_REPORT.name]
        slot.month, slot.started_mono = month, time.monotonic()  # the run started for `month`
        for fmt in FORMATS:  # and wrote its files
            (reports / file_name("kati", month, fmt)).write_text("{}")
        record = jobs._record

        def tick_first(result):  # the main loop's tick, at the worst moment
            jobs.tick(DEFAULT_REPORT.name)
            record(result)

        jobs._record = tick_first
        jobs._finish(slot, 0)
        assert slot.month is None  # the tick did come first: nothing is due any more
        assert published == [month]
    finally:
        writer.stop()
