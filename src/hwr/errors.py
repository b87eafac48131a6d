"""The one exception type users see: a one-line message that names the culprit and the fix."""


class HwrError(Exception):
    """An error caused by the user's input or params; stages and the CLI print it as one line."""
