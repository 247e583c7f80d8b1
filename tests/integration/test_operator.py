"""The README's install steps, run as written in a temporary root, with the example config as copied.

Only the places are moved under the temporary root (/opt, /etc, /var/lib); the config gets the
test's one edit (a Maildir inbox and a directory outbox instead of Gmail, which the test cannot
reach). The service user is `nobody`; the unit file is checked by `systemd-analyze verify`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailticket.config import Inbox
from tests.conftest import make_mail

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
UNIT = REPO / "systemd" / "mailticket.service"
USER = "nobody"


def readme_recipe() -> list[str]:
    """The command lines of the README's "Running under systemd" block."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Running under systemd", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="mailticket-root-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def moved(line: str, root: Path) -> str:
    for place in ("/opt/", "/etc/mailticket", "/var/lib/mailticket"):
        line = line.replace(place, f"{root}{place}")
    return line


def sh(line: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_readme_install_steps_work_verbatim_with_the_example_config(root):
    steps = readme_recipe()
    wanted = ["python3 -m venv /opt/mailticket/.venv", "pip install /opt/mailticket/src",
              "cp /opt/mailticket/src/config/mailticket.example.toml /etc/mailticket/mailticket.toml",
              "install -d -o mailticket -g mailticket -m 750 /var/lib/mailticket",
              "mailticket db upgrade", "mailticket check", "MAILTICKET_CONFIG=/etc/mailticket/mailticket.toml"]
    for piece in wanted:
        assert any(piece in step for step in steps), f"the README's recipe lacks {piece!r}"

    # the checkout ("git clone"): the working tree without its venv and state
    src = root / "opt" / "mailticket" / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "*.egg-info",
                                                             ".pytest_cache", "build"))
    (root / "etc" / "mailticket").mkdir(parents=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    for step in steps:
        line = moved(step.removeprefix("sudo "), root)
        if step.startswith(("sudo useradd", "sudo git clone", "printf", "sudo chmod 600", "sudo systemctl",
                            "journalctl", "sudo cp /opt/mailticket/src/systemd", "sudo mkdir")):
            continue  # users, systemd and secrets are the machine's; the folders are made above
        if "python3 -m venv" in step:
            sh(line.replace("python3", sys.executable), env=env)
            # the dependencies are those of this checkout's venv (no download); pip builds and installs
            # the package itself as the README says
            venv_site = next((root / "opt" / "mailticket" / ".venv" / "lib").glob("python3*/site-packages"))
            (venv_site / "deps.pth").write_text(next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
                                                .as_posix() + "\n")
        elif "pip install" in step:
            sh(line + " -q", env=env)
        elif step.startswith("sudo cp") and "example.toml" in step:
            sh(line)
            config = root / "etc" / "mailticket" / "mailticket.toml"
            text = config.read_text()
            # the test's edit: paths under the temporary root, local mail instead of Gmail
            text = text.replace("/var/lib/mailticket", f"{root}/var/lib/mailticket")
            text = text.replace('[inbox]\nkind = "imap"',
                                f'[inbox]\nkind = "maildir"\npath = "{root}/var/lib/mailticket/mail"\ncreate = true')
            text = text.replace('[smtp]\nkind = "smtp"',
                                f'[smtp]\nkind = "directory"\npath = "{root}/var/lib/mailticket/outbox"')
            assert text.count(str(root)) == 3, "the example config changed: adapt the test's edit"
            config.write_text(text)
        elif step.startswith("sudo install -d"):
            sh(line.replace("-o mailticket -g mailticket", f"-o {USER} -g nogroup"))
        elif step.startswith("export"):
            env["MAILTICKET_CONFIG"] = line.split("=", 1)[1].split()[0]
        elif step.startswith("sudo -u mailticket"):
            command = moved(step, root).removeprefix("sudo -u mailticket --preserve-env=MAILTICKET_CONFIG ")
            proc = sh(f"setpriv --reuid={USER} --regid=nogroup --clear-groups {command}", env=env,
                      cwd=root)  # a folder nobody may not write: nothing may land in ./var
            if command.endswith("check"):
                out = proc.stdout
                assert f"ok    database: SQLite file {root}/var/lib/mailticket/mailticket.db, schema" in out
                assert "site-packages/mailticket/data/rules.toml (shipped) compiles" in out, out
                assert "site-packages/mailticket/templates (shipped)" in out, out
        else:
            pytest.fail(f"a README step the test does not know: {step}")

    state = root / "var" / "lib" / "mailticket"
    assert (state / "mailticket.db").is_file()
    new = state / "mail" / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / "1764050000.M000001P1.test").write_bytes(make_mail("Tidak bisa login", "gagal login"))
    shutil.chown(state / "mail", USER)
    for sub in ("new", "cur", "tmp"):
        (state / "mail" / sub).mkdir(exist_ok=True)
        shutil.chown(state / "mail" / sub, USER)
    mailticket = root / "opt" / "mailticket" / ".venv" / "bin" / "mailticket"
    proc = sh(f"setpriv --reuid={USER} --regid=nogroup --clear-groups {mailticket} run --once", env=env, cwd=root)
    assert list((state / "outbox").glob("*-ack.eml")), proc.stderr
    assert not (root / "var" / "mailticket.db").exists() and not (root / "etc" / "mailticket" / "var").exists()

    verify_unit(root, mailticket)


def verify_unit(root: Path, mailticket: Path) -> None:
    unit_text = UNIT.read_text()
    for key in ("StateDirectory=mailticket", "Environment=MAILTICKET_CONFIG=/etc/mailticket/mailticket.toml",
                "ExecStartPre=/opt/mailticket/.venv/bin/mailticket db upgrade",
                "ExecStart=/opt/mailticket/.venv/bin/mailticket run", "ProtectSystem=strict"):
        assert key in unit_text, key
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the key lint above is what can be done here
    unit = root / "mailticket.service"
    unit.write_text(unit_text.replace("/opt/mailticket/.venv/bin/mailticket", str(mailticket)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "mailticket.service" not in proc.stderr, proc.stderr  # no complaint about our unit


# -- status: what monitoring sees -----------------------------------------------------------------


def status(config: Path, cwd: Path) -> tuple[int, dict, str]:
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(config), "status"]
    text = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30)
    data = subprocess.run([*cmd, "--json"], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert data.stdout.strip(), data.stderr
    return data.returncode, json.loads(data.stdout), text.stdout


def test_status_running_then_stopped_cleanly_and_the_config_path(tmp_path):
    from tests.integration.test_daemon import stop_daemon

    for sub in ("new", "cur", "tmp"):
        (tmp_path / "mail" / sub).mkdir(parents=True)
    config = tmp_path / "mt.toml"
    config.write_text('[database]\nurl = "sqlite:///mt.db"\n[inbox]\nkind = "maildir"\npath = "mail"\n'
                      'poll_interval = "1s"\n[smtp]\nkind = "directory"\npath = "outbox"\n')
    assert subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(config), "db", "upgrade"],
                          capture_output=True, timeout=60).returncode == 0
    code, data, text = status(config, tmp_path)
    assert code == 1 and data["problems"] == ["no daemon has reported yet"] and not data["healthy"]
    assert f"config: {config}" in text and "PROBLEM: no daemon has reported yet" in text

    proc = subprocess.Popen([sys.executable, "-m", "mailticket.cli", "--config", str(config), "run"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            code, data, text = status(config, tmp_path)
            if data["daemons"]:
                break
            time.sleep(0.3)
        assert code == 0, text
        [daemon] = data["daemons"]
        assert daemon["fresh"] and daemon["inbox_state"] == "maildir" and data["config"] == str(config)
    finally:
        stop_daemon(proc)
    code, data, text = status(config, tmp_path)
    assert code == 1 and data["daemons"] == []
    assert "no daemon running: the last one" in data["problems"][0] and "stopped at" in text


def test_status_during_an_imap_outage_says_retrying_since_with_the_error_and_exits_1(tmp_path, dovecot,
                                                                                      imap_user, smtp_sink):
    from tests.integration.test_daemon import start_daemon, stop_daemon, write_config

    config = write_config(tmp_path, dovecot, imap_user, smtp_sink, poll="1s")
    text = config.read_text()
    assert text.count('poll_interval = "1s"') == 1
    config.write_text(text.replace('poll_interval = "1s"', 'poll_interval = "1s"\nstall_alert = "3s"'))
    proc = start_daemon(config, tmp_path)
    try:
        time.sleep(1.5)
        code, data, _text = status(config, tmp_path)
        assert code == 0 and data["daemons"][0]["inbox_state"] == "connected", data
        dovecot.stop(drop_sessions=True)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                code, data, text = status(config, tmp_path)
                if code == 1:
                    break
                time.sleep(0.5)
            [daemon] = data["daemons"]
            assert code == 1, json.dumps(data)
            assert daemon["inbox_state"] in ("retrying", "disconnected", "failed") and daemon["inbox_since"]
            assert daemon["inbox_error"] and "last error:" in text
            assert f"since {daemon['inbox_since']}" in text
            assert "no good fetch for longer than stall_alert (3s)" in data["problems"][0]
        finally:
            dovecot.start()
    finally:
        stop_daemon(proc)


def test_an_imap_alert_is_kept_logged_and_shown():
    from mailticket.cli.operate import _status_text
    from mailticket.inbox.imap import ImapInbox

    class Clock:
        def now(self):
            return datetime.now(UTC)

    inbox = ImapInbox(Inbox(username="helpdesk@gmail.com"), keep=None, load_checkpoint=None, clock=Clock())

    class Fake:
        class _imap:  # noqa: N801 - imaplib's attribute name
            untagged_responses = {"OK": [b"[ALERT] Please log in via your web browser"],
                                  "NO": [b"[OVERQUOTA] Mailbox is full"]}

    inbox._server_notes(Fake())
    assert inbox.alert == "[OVERQUOTA] Mailbox is full"
    row = {"host": "h", "pid": 1, "inbox": inbox.source, "inbox_state": "connected", "last_fetch": None,
           "last_send": None, "updated": "x", "inbox_alert": inbox.alert}
    text = _status_text({"config": "c", "daemons": [row], "stopped": [], "outbox_queued": 0, "outbox_failed": 0,
                         "pending": 0, "quarantined": 0, "tickets_open": 0, "sending_paused_until": None,
                         "outbox_refused": [], "problems": []})
    assert "the server says: [OVERQUOTA] Mailbox is full" in text


# -- make demo ------------------------------------------------------------------------------------


def test_make_demo_reads_cleanly():
    if not (REPO / ".venv" / "bin" / "mailticket").exists():
        pytest.fail("make demo needs the checkout's .venv (make install)")
    proc = subprocess.run(["make", "-s", "demo"], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert " WARNING " not in out and "Traceback" not in out
    assert "…" in out  # long subjects are cut visibly
    table = out.split("== mailticket tickets list", 1)[1]
    created = re.search(r"LPSE#1 .*?(\d{4}-\d\d-\d\d \d\d:\d\d)", table).group(1)
    logged = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d):\d\d,\d+ INFO mailticket.pipeline", out, re.M)
    assert logged and abs(int(logged[-1][11:13]) - int(created[11:13])) in (0, 1, 23), (logged[-1], created)
    assert "the demo's files are in var/demo/var" in out and "mailticket tickets show LPSE#1" in out


# -- which config is in use -----------------------------------------------------------------------


def test_the_embedded_default_is_announced_on_stderr(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MAILTICKET_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "tickets", "list"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (f"mailticket: no config found (--config, $MAILTICKET_CONFIG, ./config/mailticket.toml); using the "
            f"embedded default in {tmp_path}/var (database sqlite:///{tmp_path}/var/mailticket.db)") in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "status"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("config: <embedded default>") and "no config found" in proc.stderr
    config = tmp_path / "mt.toml"
    config.write_text('[database]\nurl = "sqlite:///other.db"\n')
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "tickets", "list"], cwd=tmp_path,
                          env={**env, "MAILTICKET_CONFIG": str(config)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "no config found" not in proc.stderr
