"""`python -m shop_terminal` is the `shop-terminal` command."""

from shop_terminal.cli import main

main()
