"""A fake /sys/class/leds tree: the files the LED class has, as plain files."""

from __future__ import annotations

from pathlib import Path


def make_leds(root: Path, names=("green", "amber", "red"), timer: bool = True) -> Path:
    for name in names:
        led = root / name
        led.mkdir(parents=True)
        (led / "max_brightness").write_text("255\n")
        (led / "brightness").write_text("0\n")
        triggers = "[none] timer heartbeat default-on" if timer else "[none] heartbeat"
        (led / "trigger").write_text(triggers + "\n")
        if timer:  # the kernel creates them with the timer trigger; a file stands for them
            (led / "delay_on").write_text("500\n")
            (led / "delay_off").write_text("500\n")
    return root


def led_state(root: Path, name: str) -> tuple[str, str]:
    """(trigger, brightness) as last written."""
    led = root / name
    trigger = (led / "trigger").read_text().strip()
    if trigger.startswith("["):  # never written: the kernel's list with `none` selected
        trigger = "none"
    return trigger, (led / "brightness").read_text().strip()


def board_state(root: Path, names=("green", "amber", "red")) -> dict[str, tuple[str, str]]:
    return {name: led_state(root, name) for name in names}
