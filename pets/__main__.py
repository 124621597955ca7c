"""`python -m pets` is the `pets` command."""

from pets.cli import main

raise SystemExit(main())
