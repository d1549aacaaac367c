"""Benchmarks: each module measures one path against a baseline in the same run.

`make bench` runs `python -m bench`, which imports every `bench/<name>.py` that
defines `run() -> list[Row]` and prints one table. Results are ratios against a
baseline measured in the same process, never absolute seconds compared across
machines. Benchmarks are not tests: they are long and never run in `make test`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    """One measurement against its baseline; `higher_is_better` says how to read the ratio."""

    name: str
    value: float
    baseline: float
    unit: str
    higher_is_better: bool = True

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")
