"""The ``wsrl`` command (``wsrl.cli.main:main``)."""
