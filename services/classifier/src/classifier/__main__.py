"""Entry point: ``python -m classifier`` runs the service, ``… classify`` the CLI filter."""

from __future__ import annotations

import sys

from classifier.cli import main as cli_main


def main() -> None:
    """Run the CLI or the service and exit with its status."""
    sys.exit(cli_main())


if __name__ == "__main__":
    main()
