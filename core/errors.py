"""The one error type that the command line shows as a message, not a traceback."""


class PlatformError(Exception):
    """An expected failure: bad input, bad config, a busy lock, a failed audit.

    The message says what was wrong, where, and how to fix it. Entry points print
    it without a traceback and exit non-zero.
    """
