"""The ART side of art-sor: torch views of ART classifiers, input checks, classifiers and checkpoints by name."""
