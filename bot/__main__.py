"""`python -m bot` is the same as the `tradebot` command."""

from bot.cli import main

raise SystemExit(main())
