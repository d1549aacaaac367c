"""Progress on the command line: tqdm bars on a management command's error output.

Shared by the commands that run long operations (`woo_reconcile`,
`export_batch`, `load_demo`). The bar goes to the error output so that the
standard output keeps only what a script may read (summaries, logins).
"""

from __future__ import annotations

from django.core.management.base import OutputWrapper
from django.utils.translation import gettext as _
from tqdm import tqdm


class CommandStream:
    """A file-like view of a command's output for tqdm: no added newline, no colour."""

    def __init__(self, wrapper: OutputWrapper):
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, style_func=lambda s: s, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


def wants_progress(choice: bool | None, stderr: OutputWrapper) -> bool:
    """`--progress` / `--no-progress` as given, else a bar only when stderr is a terminal."""
    return stderr.isatty() if choice is None else choice


def add_progress_arguments(parser) -> None:
    """The `--progress` / `--no-progress` pair (help in the active language: call it late)."""
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_const",
        const=True,
        default=None,
        help=_("Show a progress bar even when the output is not a terminal."),
    )
    bar.add_argument(
        "--no-progress",
        dest="progress",
        action="store_const",
        const=False,
        help=_("Never show a progress bar."),
    )


def step_bar(label: str, steps: int, stderr: OutputWrapper, enabled: bool, unit: str) -> tqdm:
    """A bar over a known number of steps, on the command's error output."""
    return tqdm(
        total=steps,
        desc=label,
        unit=unit,
        file=CommandStream(stderr),
        disable=not enabled,
        leave=True,
    )
