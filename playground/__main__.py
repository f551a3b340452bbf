"""`python -m playground ...`: see cli.py."""
from .cli import main

raise SystemExit(main())
