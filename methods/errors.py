"""The one exception that means "the visitor asked for something this cannot do".

Its message is plain words for the person who typed the input; the app shows it as it is. Any other exception is a
bug: the app logs its traceback and shows one line saying something went wrong on its side."""


class InputError(ValueError):
    """Bad input, said in plain words (a ValueError, so callers that catch ValueError still work)."""


MARKUP = set("<>&*_`[]|#~\\")  # what HTML or Markdown would act on, wherever a message is shown


def shown(value: object, limit: int = 60) -> str:
    """A visitor's value as a message may show it back: control and formatting characters and the characters markup
    would act on dropped, runs of spaces made one, at most ``limit`` characters (a megabyte typed into a box comes back
    as its first few words; ``<img onerror=...>`` as plain letters, in a terminal, a toast or Markdown alike)."""
    import unicodedata

    text = "".join(ch for ch in str(value) if (unicodedata.category(ch)[0] != "C" or ch in " \t\n") and ch not in MARKUP)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
