"""art-sor's built-in defences, registered in the ``art_sor.defences`` entry-point group.

They reach art-sor only through the entry points declared in ``pyproject.toml``, exactly as a third-party
defence would.
"""
