"""The one exception family a user should ever see, as a one-line message.

Bugs stay tracebacks; only mistakes a user can make (bad files, bad keys, bad input)
are raised as ``S2SError`` where they are found, and the CLI prints them in one line.
"""


class S2SError(Exception):
    """A user-facing error: the message names the file, line or key at fault."""

    exit_code = 2
    label = "error"


class ConfigError(S2SError):
    """A bad config file, key or value."""


class DataError(S2SError):
    """A bad data file or input sentence."""


class RunError(S2SError):
    """A missing or unreadable run folder or checkpoint."""


class TrainingError(S2SError):
    """Training cannot go on (a non-finite loss); what was saved before stays intact."""


class TrainingInterrupted(S2SError):
    """Ctrl-C or SIGTERM: the state was saved and the message says how to resume."""

    label = "stopped"

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number
