"""Entry point of `python -m codegen` (what `make codegen` runs)."""

from codegen._generate import main

raise SystemExit(main())
