"""``python -m lamina`` runs the command-line interface."""

from lamina.cli.main import main

main()
