"""``python -m affectlab`` runs the CLI."""

from .cli import main

main()
