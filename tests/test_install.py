"""scripts/install into a scratch root (files, users, groups, owners, modes; run twice: the same
result, the config kept), the message a person gets when the config is not theirs to read, and
the udev rules: checked by `udevadm verify` where this machine's udev has it (systemd >= 253),
and always by a parser and evaluator of the rules syntax run on the adapters we name."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "systemd" / "99-edged-serial.rules"
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="installing sets owners: needs root")


def scratch_root(path: Path) -> Path:
    """A bare target: root's account files (dialout included, as on Debian) and polkit."""
    (path / "etc" / "polkit-1" / "rules.d").mkdir(parents=True)
    (path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (path / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\n")
    (path / "etc" / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (path / "etc" / "gshadow").write_text("root:*::\ndialout:*::\n")
    return path


def install(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "install"), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def accounts(root: Path, name: str) -> dict[str, list[str]]:
    lines = (root / "etc" / name).read_text().splitlines()
    return {line.split(":")[0]: line.split(":") for line in lines}


def mode_owner(path: Path) -> tuple[str, int, int]:
    st = path.lstat()
    return oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid


@AS_ROOT
def test_install_into_a_scratch_root_twice(tmp_path):
    root = scratch_root(tmp_path / "root")
    first = install(root)
    assert first.returncode == 0, first.stderr
    config = root / "etc" / "edged" / "edged.toml"
    config.write_text(config.read_text() + "# site edit\n")
    config.chmod(0o644)  # as an older install left it: readable by all, password included
    again = install(root)
    assert again.returncode == 0, again.stderr

    users, groups = accounts(root, "passwd"), accounts(root, "group")
    assert list(users) == ["root", "edged"] and list(groups) == ["root", "dialout", "edged"]
    edged = users["edged"]
    uid, gid = int(edged[2]), int(edged[3])
    assert gid == int(groups["edged"][2]) and 0 < uid < 1000  # a system user
    assert edged[5:] == ["/var/lib/edged", "/usr/sbin/nologin"]
    assert groups["dialout"][3] == "edged"  # the serial ports

    assert config.read_text().endswith("# site edit\n")  # kept
    assert mode_owner(config) == ("0o640", 0, gid)  # and closed again
    assert mode_owner(root / "etc" / "edged") == ("0o750", 0, gid)
    assert mode_owner(root / "var" / "lib" / "edged") == ("0o750", uid, gid)
    cli = root / "usr" / "local" / "bin" / "edged"
    assert os.readlink(cli) == "/opt/edged/.venv/bin/edged"

    # the backup script where the example config's job points
    example = (ROOT / "docs" / "edged.example.toml").read_text()
    script = re.search(r'command = \["(/opt/edged/[^"]+)"', example)[1]
    assert mode_owner(root / script.lstrip("/")) == ("0o755", 0, 0)
    for target, source in [
        ("etc/systemd/system/edged.service", "systemd/edged.service"),
        ("etc/udev/rules.d/99-edged-serial.rules", "systemd/99-edged-serial.rules"),
        ("etc/udev/rules.d/99-edged-leds.rules", "systemd/99-edged-leds.rules"),
        ("etc/polkit-1/rules.d/50-edged.rules", "systemd/50-edged.rules"),
    ]:
        assert (root / target).read_bytes() == (ROOT / source).read_bytes(), target
        assert mode_owner(root / target) == ("0o644", 0, 0)
    assert not (root / "opt" / "edged" / ".venv").exists()  # built on the Pi itself only
    assert "usermod -aG edged" in again.stdout


@AS_ROOT
def test_install_refuses_a_root_without_account_files(tmp_path):
    out = install(tmp_path)
    assert out.returncode == 1 and "etc/passwd and" in out.stderr


def test_install_names_the_interpreter():
    text = (ROOT / "scripts" / "install").read_text()
    assert "PYTHON=/usr/bin/python3\n" in text and '"$PYTHON" -m venv' in text
    assert "python3 -m venv" not in text.replace('"$PYTHON" -m venv', "")


def readme_site_commands() -> list[str]:
    """Each command of the first shell block of the README's "Installing on a site"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Installing on a site", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0] for line in block.splitlines()]
    return [cmd.strip() for line in lines for cmd in re.split(r"&&|\|\||;", line) if cmd.strip()]


def test_the_packages_to_install_while_connected_are_the_ones_try_install_adds():
    """scripts/try-install builds its fresh bookworm with exactly the README's list (and sudo):
    it found the list short of polkitd, without which the install only warns that load
    shedding may not stop services. The two must not drift apart."""
    offline = (
        (ROOT / "README.md").read_text(encoding="utf-8").split("### Offline, from a bundle")[1]
    )
    readme = re.search(r"`sudo apt-get install ([a-z0-9.\s-]+)`", offline)
    assert readme is not None
    tried = re.search(
        r"CONNECTED_PACKAGES = \(([^)]*)\)", (ROOT / "scripts" / "try-install").read_text()
    )
    assert tried is not None
    packages = set(readme[1].split())
    assert packages == {"python3-venv", "polkitd"}
    assert {p.strip(' "') for p in tried[1].split(",")} - {"sudo"} == packages


def test_the_readme_reads_the_config_with_sudo():
    """Found by scripts/try-install on a fresh bookworm: the config is root:edged 0640, so the
    administrator's bare `edged check-config` after `sudo nano` exited 2 ("lecture refusée")
    and stopped the README's line before `systemctl restart`. The administrator is not in the
    group edged (only the staff added by usermod are, after logging in again)."""
    commands = readme_site_commands()
    assert "sudo edged check-config" in commands and "sudo ./scripts/install" in commands
    bare = [cmd for cmd in commands if cmd.split()[0] == "edged"]
    assert bare == [], f"run without sudo by an account outside the group edged: {bare}"
    said = re.findall(
        r"(\S+) edged (?:check-config|status)", (ROOT / "scripts" / "install").read_text()
    )
    assert said and set(said) == {"sudo"}, said  # what the installer tells the administrator


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "permission denied: only root and the group root may read the configuration"),
        ("fr", "lecture refusée : seuls root et le groupe root peuvent lire la configuration"),
    ],
)
def test_a_config_not_ours_to_read_says_which_group_to_join(lang, words):
    folder = Path(tempfile.mkdtemp(prefix="edged-perm-"))  # pytest's tmp_path is root-only
    try:
        folder.chmod(0o755)
        config = folder / "edged.toml"
        shutil.copy(ROOT / "docs" / "edged.example.toml", config)
        os.chown(config, 0, 0)  # as root:edged to a user outside the group
        config.chmod(0o640)
        out = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-m",
                "edged.cli",
                "status",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "EDGED_LANG": lang},
        )
    finally:
        shutil.rmtree(folder)
    assert out.returncode == 2
    frame = f"{config}: (file): " if lang == "en" else f"{config} : (fichier) : "
    assert frame + words in out.stderr
    assert "sudo usermod -aG root" in out.stderr and "Errno" not in out.stderr


# --- udev rules ----------------------------------------------------------------------------

MATCH_KEYS = {"ACTION", "SUBSYSTEM", "ENV", "ATTRS", "KERNEL", "SUBSYSTEMS"}
ASSIGN_KEYS = {"ENV", "SYMLINK", "GROUP", "MODE", "GOTO", "LABEL"}
ENTRY = re.compile(r'\s*([A-Z_]+)(?:\{([^}]+)\})?(==|!=|\+=|=)"([^"]*)"\s*(,|$)')
SUBSTITUTION = re.compile(r"\$(\w+)(?:\{([^}]*)\})?")


def parse_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    """udev rules syntax (udev(7)): one rule a line, comma-separated KEY[{attr}] op "value"."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entries, pos = [], 0
        while pos < len(line):
            m = ENTRY.match(line, pos)
            assert m, f"line {number}: cannot parse from {line[pos:]!r}"
            key, attr, op, value = m[1], m[2], m[3], m[4]
            keys = MATCH_KEYS if op in ("==", "!=") else ASSIGN_KEYS
            assert key in keys, f"line {number}: {key}{op} is not a udev key here"
            assert (attr is not None) == (key in ("ENV", "ATTRS")), f"line {number}: {key}"
            for sub in SUBSTITUTION.finditer(value):
                assert sub[1] in ("env", "attr") and sub[2], f"line {number}: {sub[0]!r}"
            entries.append((key, attr, op, value))
            pos = m.end()
        rules.append(entries)
    labels = [v for rule in rules for k, _, _, v in rule if k == "LABEL"]
    for rule in rules:
        for key, _, _, value in rule:
            assert key != "GOTO" or value in labels, f"GOTO {value!r} has no LABEL"
    return rules


def apply_rules(rules, env: dict[str, str], attrs: dict[str, str]) -> dict:
    """What udev would do to one tty device: its symlinks, group and mode."""
    env, out = dict(env), {"symlinks": [], "group": None, "mode": None}
    labels = {r[0][3]: i for i, r in enumerate(rules) if r[0][0] == "LABEL"}

    def expand(value: str) -> str:
        return SUBSTITUTION.sub(lambda m: (env if m[1] == "env" else attrs).get(m[2], ""), value)

    def matches(key, attr, op, value) -> bool:
        got = {"ENV": env.get(attr, ""), "ATTRS": attrs.get(attr, "")}.get(key, env.get(key, ""))
        hit = any(fnmatch.fnmatchcase(got, p) for p in value.split("|"))
        return hit if op == "==" else not hit

    i = 0
    while i < len(rules):
        rule, i = rules[i], i + 1
        if not all(matches(*e) for e in rule if e[2] in ("==", "!=")):
            continue
        for key, attr, op, value in rule:
            if key == "ENV" and op == "=":
                env[attr] = expand(value)
            elif key == "SYMLINK":
                out["symlinks"].append(expand(value))
            elif key in ("GROUP", "MODE"):
                out[key.lower()] = value
            elif key == "GOTO":
                i = labels[value]
    return out


def usb_tty(vendor: str, model: str, serial: str = "", interface: str = "00", **extra) -> dict:
    env = {
        "ACTION": "add",
        "SUBSYSTEM": "tty",
        "ID_BUS": "usb",
        "ID_VENDOR_ID": vendor,
        "ID_MODEL_ID": model,
        "ID_USB_INTERFACE_NUM": interface,
        "ID_PATH_TAG": "platform-fd500000_pcie-pci-0000_01_00_0-usb-0_1_3_1_0",
    }
    if serial:
        env["ID_SERIAL_SHORT"] = serial
    return {**env, **extra}


@pytest.mark.parametrize(
    ("env", "attrs", "symlinks"),
    [
        (
            usb_tty("0403", "6015", "HQ2131ABCDE"),
            {"manufacturer": "VictronEnergy BV"},
            ["edged/vedirect-HQ2131ABCDE"],
        ),
        (
            usb_tty("0403", "6015", "DN05XYZ1"),
            {"manufacturer": "FTDI"},
            ["edged/rs485-0403-6015-DN05XYZ1"],
        ),
        (
            usb_tty("0403", "6001", "A10KQ2ZB", interface="01"),
            {},
            ["edged/rs485-0403-6001-A10KQ2ZB-if01"],
        ),
        (
            usb_tty("1a86", "7523"),
            {},  # a CH340 has no serial number: named by its socket
            ["edged/rs485-1a86-7523-port-platform-fd500000_pcie-pci-0000_01_00_0-usb-0_1_3_1_0"],
        ),
        (usb_tty("10c4", "ea60", "0001"), {}, ["edged/rs485-10c4-ea60-0001"]),
        (usb_tty("1546", "01a7", "GPS1"), {}, []),  # a GPS receiver: not ours to name
        (usb_tty("0403", "6015", "HQ1", ACTION="remove"), {"manufacturer": "VictronEnergy BV"}, []),
        ({"ACTION": "add", "SUBSYSTEM": "tty"}, {}, []),  # the Pi's own UART, ttyAMA0
    ],
)
def test_the_udev_rules_name_the_adapters(env, attrs, symlinks):
    result = apply_rules(parse_rules(RULES.read_text()), env, attrs)
    assert result["symlinks"] == symlinks
    assert (result["group"], result["mode"]) == (("dialout", "0660") if symlinks else (None, None))


def test_the_rules_parser_rejects_what_udev_would():
    for bad in (
        'SYMLINK=="x"',
        'ENV{A}="1", GOTO="nowhere"',
        'KERNEL=="tty*" MODE="0660"',
        'ENV{A}="$devnode"',
        'FOO=="1"',
    ):
        with pytest.raises(AssertionError):
            parse_rules(bad)


def test_udevadm_verify_accepts_the_rules():
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.skip("no udevadm here (Debian's udev package); the parser test above stands in")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no `verify` (systemd < 253)")
    out = subprocess.run(
        [udevadm, "verify", str(RULES)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr


def uninstall(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "uninstall"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@AS_ROOT
def test_uninstall_keeps_the_data_unless_purged(tmp_path):
    root = scratch_root(tmp_path / "root")
    assert install(root).returncode == 0
    database = root / "var" / "lib" / "edged" / "edged.db"
    database.write_bytes(b"SQLite format 3\0")
    other = root / "usr" / "local" / "bin" / "other"
    other.symlink_to("/usr/bin/true")

    out = uninstall(root)
    assert out.returncode == 0, out.stderr
    assert "Kept: /var/lib/edged" in out.stdout
    assert database.read_bytes() == b"SQLite format 3\0"
    assert (root / "etc" / "edged" / "edged.toml").exists()
    assert "edged" in accounts(root, "passwd") and "edged" in accounts(root, "group")
    for gone in (
        "opt/edged",
        "usr/local/bin/edged",
        "etc/systemd/system/edged.service",
        "etc/udev/rules.d/99-edged-serial.rules",
        "etc/polkit-1/rules.d/50-edged.rules",
    ):
        assert not (root / gone).exists() and not (root / gone).is_symlink(), gone
    assert other.is_symlink()

    assert install(root).returncode == 0  # a reinstall finds its config and data
    assert database.exists()
    out = uninstall(root, "--purge")
    assert out.returncode == 0, out.stderr
    assert not (root / "var" / "lib" / "edged").exists() and not (root / "etc" / "edged").exists()
    assert "edged" not in accounts(root, "passwd") and "edged" not in accounts(root, "group")
    assert accounts(root, "group")["dialout"][3] == ""  # dialout stays, without edged
