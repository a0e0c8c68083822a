"""``python -m safecode``: the same as the ``safecode`` command."""

from safecode.cli import main

main()
