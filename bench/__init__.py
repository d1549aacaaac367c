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
    """One measurement against its baseline; `higher_is_better` says how to read the ratio.

    `target`, when the issue sets one, bounds the ratio (`target_of="ratio"`) or
    the value itself (`target_of="value"`, e.g. a latency in ms): at least it
    when higher is better, at most it otherwise. `key` names the row for rows
    derived from others (see bench/__main__.py).
    """

    name: str
    value: float
    baseline: float
    unit: str
    higher_is_better: bool = True
    target: float | None = None
    target_of: str = "ratio"
    key: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = ">=" if self.higher_is_better else "<="
        suffix = "x" if self.target_of == "ratio" else f" {self.unit}"
        return f"{sign} {self.target:g}{suffix}"

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        measured = self.ratio if self.target_of == "ratio" else self.value
        return measured >= self.target if self.higher_is_better else measured <= self.target
