"""One live folder per daemon: the live view, `backup --now` requests and job locks of two daemons
on one machine (a test bench, a second site config) are never the same files.

The live view once defaulted to /run/edged/live.json whatever the config, so a second daemon read
the first one's view and took its `backup --now` requests. The default is now derived from the
site, and a daemon that would share a folder anyway (the same `live_path` in two configs) refuses
to start: exit 2, the holder's pid, in French or English.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edged import live
from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.power.jobs.requests import requests_dir
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.replay import wait_until


def test_the_live_folder_is_derived_from_the_site_and_the_database(tmp_path):
    def config(site: str, db: Path, live_path: str | None = None) -> Config:
        return Config(SiteConfig(site), StorageConfig(path=str(db), live_path=live_path))

    kati = config("kati", tmp_path / "kati" / "edged.db")
    mopti = config("mopti", tmp_path / "kati" / "mopti.db")  # a bench: same folder, other db
    assert live.candidates(kati)[0] == Path("/run/edged/kati/live.json")
    assert live.candidates(mopti)[0] == Path("/run/edged/mopti/live.json")
    # Without /run: a folder per database, not one `requests/` for every database beside it.
    assert live.candidates(kati)[1] == tmp_path / "kati" / "edged.live" / "live.json"
    assert live.candidates(mopti)[1] == tmp_path / "kati" / "mopti.live" / "live.json"
    for a, b in zip(live.candidates(kati), live.candidates(mopti), strict=True):
        assert requests_dir(a) != requests_dir(b)
    given = config("kati", tmp_path / "edged.db", str(tmp_path / "here" / "live.json"))
    assert live.candidates(given)[0] == tmp_path / "here" / "live.json"  # as written


def _daemon(workdir: Path, shared: Path, lang: str) -> DaemonProcess:
    workdir.mkdir()
    config = write_config(workdir, devices="", broker_port=None)
    text = config.read_text().replace(str(workdir / "live.json"), str(shared / "live.json"))
    config.write_text(text)  # its own database, the other daemon's live folder
    d = DaemonProcess(config, workdir / "daemon.log", env={"EDGED_LANG": lang})
    d.start()
    return d


def test_a_second_daemon_on_the_same_live_folder_refuses_to_start(tmp_path):
    shared = tmp_path / "run"
    started: list[DaemonProcess] = []
    try:
        first = _daemon(tmp_path / "a", shared, "fr")
        started.append(first)
        wait_until(lambda: (shared / "live.json").exists(), 60, what="the first live view")
        for lang, said in (
            ("fr", f"est déjà celui d'un autre démon (pid {first.proc.pid})"),
            ("en", f"is already another daemon's (pid {first.proc.pid})"),
        ):
            second = _daemon(tmp_path / f"b-{lang}", shared, lang)
            started.append(second)
            assert second.proc.wait(60) == 2, second.logs()[-2000:]
            assert said in second.logs() and str(shared) in second.logs()
            assert not (tmp_path / f"b-{lang}" / "edged.db.lock").read_text().strip()
        assert first.proc.poll() is None  # the first one runs on, its view its own
        assert first.terminate() == 0
        third = _daemon(tmp_path / "c", shared, "en")  # the lock died with its holder
        started.append(third)
        wait_until(lambda: (shared / "live.json").exists(), 60, what="the next live view")
        assert third.proc.poll() is None
    finally:
        for d in started:
            d.stop()


def test_the_live_lock_is_taken_once_whatever_its_file_holds(tmp_path):
    folder = tmp_path / "run" / "kati"
    folder.mkdir(parents=True)
    (folder / live.LOCK_NAME).write_bytes(b"\xff\x00garbage\n" * 50)  # left by a crash, or junk
    held = live.claim(folder / "live.json")  # a file nobody holds is no obstacle
    try:
        assert (folder / live.LOCK_NAME).read_text() == f"{os.getpid()}\n"
        (tmp_path / "alias").symlink_to(tmp_path / "run")
        for path in (folder / "other.json", tmp_path / "alias" / "kati" / "live.json"):
            with pytest.raises(live.LiveInUse) as busy:  # one folder, by any file or name
                live.claim(path)
            assert busy.value.pid == os.getpid()
        (folder / live.LOCK_NAME).write_text("not a pid\n")  # held, its pid unreadable
        with pytest.raises(live.LiveInUse) as busy:
            live.claim(folder / "live.json")
        assert busy.value.pid is None  # the message then says "pid ?"
    finally:
        held.release()
    live.claim(folder / "live.json").release()  # free again once released
