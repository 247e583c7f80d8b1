"""Headless Chromium for the layout tests: does a page fit a phone screen?

`overflow(html)` renders an HTML mail at 390×844 (an ordinary phone) in Debian's `chromium`
(installed by tests/servers/install.sh) and returns what the page measured in the browser:

    {"scrollWidth": 390, "innerWidth": 390, "clientWidth": 390, "overflows": False}

`overflows` is `scrollWidth > innerWidth`: something (a long word, a wide table) pushes the
page past the screen and the reader must scroll sideways. `screenshot=` also writes a PNG.

Chromium's window is never narrower than 500 px, so the mail is shown in a width×height iframe
(`srcdoc`, the phone's screen) of a small host page whose script writes the frame's measures into
the document once it has loaded; `--dump-dom` prints the document and the measures are read back. No network: the mails are self-contained, and Chromium gets no proxy or remote pages.

Never skips: without Chromium, `chromium_path()` raises with the install hint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html import escape
from pathlib import Path

INSTALL_HINT = "Chromium is not installed: run `sudo tests/servers/install.sh` (installs Debian's chromium)"
PHONE = (390, 844)
_MARK = "mailticket-measure"
_FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>html,body{{margin:0;padding:0;background:#ddd}}
iframe{{display:block;border:0;width:{width}px;height:{height}px;background:#fff}}</style></head>
<body><iframe id="screen" srcdoc="{srcdoc}"></iframe>
<script>
(function () {{
  var frame = document.getElementById("screen");
  function measure() {{
    var w = frame.contentWindow, d = frame.contentDocument.documentElement;
    var out = document.createElement("pre");
    out.id = "{mark}";
    out.textContent = JSON.stringify({{
      scrollWidth: d.scrollWidth, innerWidth: w.innerWidth, clientWidth: d.clientWidth,
      scrollHeight: d.scrollHeight, innerHeight: w.innerHeight
    }});
    out.style.display = "none";
    document.body.appendChild(out);
  }}
  frame.addEventListener("load", measure);
}})();
</script></body></html>
"""
_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root (CI containers)
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",  # innerWidth is the screen; a scrollbar must not count as overflow
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--force-device-scale-factor=1",
    "--proxy-server=direct://",
    "--proxy-bypass-list=*",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(INSTALL_HINT)


def _markup(html: str | Path) -> str:
    if isinstance(html, Path):
        return html.read_text(encoding="utf-8")
    if "<" not in html and Path(html).is_file():
        return Path(html).read_text(encoding="utf-8")
    return html


def _run(args: list[str], profile: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=profile)  # Chromium writes caches under $HOME
    return subprocess.run(
        [chromium_path(), *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def overflow(
    html: str | Path,
    width: int = PHONE[0],
    height: int = PHONE[1],
    *,
    screenshot: Path | None = None,
    timeout: float = 60.0,
) -> dict:
    """Render `html` (markup, or a file) at width×height; return the page's measures.

    Keys: scrollWidth, innerWidth, clientWidth, scrollHeight, innerHeight, overflows.
    With `screenshot`, also writes a PNG of the first screen there.
    """
    markup = _markup(html)
    with tempfile.TemporaryDirectory(prefix="mailticket-chromium-") as tmp:
        page = Path(tmp) / "page.html"
        host = _FRAME.format(width=width, height=height, mark=_MARK, srcdoc=escape(markup, quote=True))
        page.write_text(host, encoding="utf-8")
        profile = str(Path(tmp) / "profile")
        size = f"--window-size={max(width, 500)},{height}"
        done = _run([size, "--dump-dom", page.as_uri()], profile, timeout)
        found = re.search(rf'<pre id="{_MARK}"[^>]*>(.*?)</pre>', done.stdout, re.S)
        if not found:
            raise RuntimeError(
                f"chromium gave no measures (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
            )
        text = found.group(1).replace("&quot;", '"').replace("&amp;", "&")
        measures = json.loads(text)
        if screenshot is not None:
            shot = _run([size, f"--screenshot={Path(screenshot).resolve()}", page.as_uri()], profile, timeout)
            if not Path(screenshot).is_file():
                raise RuntimeError(
                    f"chromium wrote no screenshot (exit {shot.returncode}): {shot.stderr[-2000:]}"
                )
    measures["overflows"] = measures["scrollWidth"] > measures["innerWidth"]
    return measures
