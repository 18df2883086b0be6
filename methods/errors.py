"""The one exception that means "the visitor asked for something this cannot do".

Its message is plain words for the person who typed the input; the app shows it as it is. Any other exception is a
bug: the app logs its traceback and shows one line saying something went wrong on its side."""


class InputError(ValueError):
    """Bad input, said in plain words (a ValueError, so callers that catch ValueError still work)."""
