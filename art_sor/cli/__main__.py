"""``python -m art_sor.cli`` runs the ``art-sor`` command."""

from art_sor.cli import main

main()
