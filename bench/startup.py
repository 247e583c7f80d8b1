#!/usr/bin/env python3
"""Start-up benchmark: wall time of short commands, start-up included, and the memory start-up takes.

Runs `mailticket --help` and `mailticket tickets list` (on a fresh embedded database) several times
each as new processes and prints the median and worst wall time and the max RSS; then the max RSS
of `mailticket ingest` on an empty folder, which is the floor under every ingest's memory.

usage: bench/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    cli = [sys.executable, "-m", "mailticket.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        subprocess.run([*cli, "db", "upgrade"], cwd=home, check=True, stdout=subprocess.DEVNULL)
        (home / "empty").mkdir()
        for label, args_, target in (("mailticket --help", ["--help"], 0.150),
                                     ("mailticket tickets list", ["tickets", "list"], 0.400),
                                     ("mailticket ingest <empty folder>", ["-q", "ingest", "empty"], None)):
            runs = [timed([*cli, *args_], home) for _ in range(args.runs)]
            walls = [wall for wall, _ in runs]
            line = (f"{label:34} median {statistics.median(walls) * 1000:5.0f} ms,"
                    f" worst {max(walls) * 1000:5.0f} ms, max RSS {max(rss for _, rss in runs):.0f} MiB")
            print(line + (f" (target < {target * 1000:.0f} ms)" if target else ""))


if __name__ == "__main__":
    main()
