"""art-sor's built-in datasets, architectures, attacks and defences, one module per entry-point group.

They reach art-sor only through the entry points declared in ``pyproject.toml``, exactly as a third-party
plugin would.
"""
