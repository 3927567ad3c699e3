"""Text a database can keep: no NUL character, no unpaired surrogate.

JSON may carry both (`\\u0000`, `\\ud800`) and Python's parser takes them, but PostgreSQL
refuses a NUL in text and neither database can encode a lone surrogate as UTF-8: such a
string, once a request is signed, would reach a column and end as a 500 (found by feeding
user text through the real store). Both routes check a parsed body here first and refuse
it naming the first field that holds such text; the name itself is shown escaped, so the
error can always be sent back.
"""

from __future__ import annotations

from collections.abc import Iterator


def is_storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(text: str) -> str:
    """`text` as it may be shown in an answer: anything unstorable escaped."""
    return text if is_storable(text) else text.encode("utf-8", "backslashreplace").decode()


def unstorable(value: object, path: str = "") -> str | None:
    """The path (`view.state.values.reason`) of the first unstorable text in `value`, or None.

    Keys count as text; a list's items are named by their index. Iterative, so a body nested
    deeper than Python's recursion limit is walked too.
    """
    for where, text in _texts(value, path):
        if not is_storable(text):
            return where or "payload"
    return None


def _texts(value: object, path: str) -> Iterator[tuple[str, str]]:
    pending: list[tuple[object, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, inner in item.items():
                named = f"{where}.{shown(str(key))}" if where else shown(str(key))
                yield named, str(key)
                pending.append((inner, named))
        elif isinstance(item, list):
            pending.extend((inner, f"{where}[{index}]") for index, inner in enumerate(item))
