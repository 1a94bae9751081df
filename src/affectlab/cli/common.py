"""Small helpers shared by command modules: consoles and printing notes."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_notes(lines: list[str]) -> None:
    """Print one-line notes (warnings, facts) to stderr."""
    for line in lines:
        err_console.print(f"[yellow]note:[/yellow] {line}", highlight=False, soft_wrap=True)
