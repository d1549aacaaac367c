"""Run every benchmark module in bench/ and print one table of ratios.

`BENCH_ONLY=webhooks,renewals` runs only the named modules (for a quick look at
one; the full table needs them all). Details and profiles go to stderr, the
table to stdout.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import Row

#: The issue's target for the renewal rate against the rate of events applied.
RENEWALS_AGAINST_EVENTS = 0.5


def machine() -> str:
    """The CPU model, cores and memory: what the table's numbers depend on."""
    model = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return f"{platform.node()}: {model}, {os.cpu_count()} cores{memory}, {platform.platform()}"


def derived(rows: list[Row]) -> list[Row]:
    """Rows across modules: the renewal rate against the rate of events applied."""
    by_key = {row.key: row for row in rows if row.key}
    renewals, events = by_key.get("renewals.rate"), by_key.get("webhooks.events")
    if renewals is None or events is None:
        return []
    return [
        Row(
            "renewals/s against events applied/s",
            renewals.value,
            events.value,
            "per s",
            target=RENEWALS_AGAINST_EVENTS,
        )
    ]


def table(rows: list[Row]) -> str:
    lines = [
        f"{'benchmark':<52} {'value':>10} {'baseline':>10} {'unit':<8} {'ratio':>7} "
        f"{'target':>9}  verdict"
    ]
    for row in rows:
        verdict = {None: "", True: "met", False: "MISSED"}[row.met]
        lines.append(
            f"{row.name:<52} {row.value:>10.1f} {row.baseline:>10.1f} {row.unit:<8} "
            f"{row.ratio:>7.2f} {row.target_text:>9}  {verdict}".rstrip()
        )
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    started_at, started = datetime.now(tz=UTC), time.perf_counter()
    package_dir = Path(__file__).parent
    only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
    modules = [
        m.name
        for m in pkgutil.iter_modules([str(package_dir)])
        if not m.name.startswith("_") and (not only or m.name in only)
    ]
    rows: list[Row] = []
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        if hasattr(module, "run"):
            module_started = time.perf_counter()
            rows.extend(module.run())
            print(
                f"bench: {name} took {time.perf_counter() - module_started:.0f} s", file=sys.stderr
            )
    if not rows:
        print("No benchmark ran (BENCH_ONLY names none?).")
        return 0
    rows.extend(derived(rows))
    print(f"make bench, {started_at:%Y-%m-%d %H:%M} UTC, {machine()}")
    print(table(rows))
    print(f"({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
