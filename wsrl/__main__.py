"""``python -m wsrl`` (also what ``torchrun -m wsrl`` runs)."""

import sys

from wsrl.cli.main import main

sys.exit(main())
