"""`python -m hpcfault` is the same as the `hpcfault` console script."""
from hpcfault.cli import main

raise SystemExit(main())
