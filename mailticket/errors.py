"""Named outcomes that stages raise; only the pipeline and the CLI catch them."""


class ConfigError(Exception):
    """The configuration is invalid: `where` (file and key) and `what` is wrong."""

    def __init__(self, where: str, what: str):
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


class Quarantine(Exception):
    """A message cannot go through the pipeline; keep it with this reason."""

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class SourceUnavailable(Exception):
    """The inbox cannot be reached now (after retrying); the daemon tries again later."""
