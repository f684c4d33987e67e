"""The command-line parser every course command uses: bad input is one ``error:`` line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class CommandParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)
