"""The ART side of art-sor: torch views of ART classifiers, input checks, models wrapped as classifiers, checkpoints."""
