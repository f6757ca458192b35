"""What the benchmarks share to report: progress lines, a process's peak memory, plain tables.

Imported by the scripts in this folder as `_report` (Python puts a script's folder first on
`sys.path`).
"""

from __future__ import annotations

import contextlib
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

NUMERIC = re.compile(r"[-+\d.,x ]*")


def progress(message: str) -> None:
    """A timestamped line on stderr (the figures go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak RSS in MB. VmHWM (Linux) starts afresh at exec; ru_maxrss does not:
    Linux keeps it across fork + exec, so a phase would report its parent's peak."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """`rows` under `headers`, indented two spaces: floats with 2 decimals, ints with commas."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    # Text columns (names, labels) read left to right; numbers line up on the right.
    left = {i for i in range(len(headers)) if not all(NUMERIC.fullmatch(row[i]) for row in text)}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])] + [line(row) for row in text]
    return "\n".join("  " + row for row in out)
