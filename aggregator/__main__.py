"""``python -m aggregator`` runs the same CLI as the ``aggregator`` command."""

from aggregator.cli import main

main()
