"""The one exception type users see. Messages follow: "<what is wrong> (got X); <how to fix>"."""


class HpcfaultError(ValueError):
    """A problem with the user's input, files or environment, worded for the user.

    The CLI prints it as one line and exits non-zero; library callers may catch it as ValueError.
    """
