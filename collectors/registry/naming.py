"""The naming rule for event types: an entity and a past-tense verb, such as ``OrderShipped``.

Violations: a generic name (``Data…``, ``Event``/``Event1``, an entity made only
of generic words such as ``RecordUpdated``), a name without an entity
(``Updated``), and a last word that is not past tense (``OrderUpdate``,
``OrderShip``). Past tense is a word ending in ``ed`` (not ``eed``, except
verbs such as ``Agreed``) or an irregular past participle (``Sent``, ``Paid``).
The name is the record's short name (Avro ``name``, JSON Schema ``title``,
Protobuf message); ``snake_case`` and ``kebab-case`` are split like ``CamelCase``.
"""

from __future__ import annotations

import re

GENERIC = {
    "data", "event", "events", "message", "msg", "record", "payload", "object", "entity",
    "item", "thing", "change", "changes", "update", "info", "generic", "value", "envelope",
    "key", "schema", "type", "row", "content", "body", "notification",
}  # fmt: skip
IRREGULAR = {
    "arisen", "awoken", "been", "begun", "bent", "bound", "bought", "broken", "brought", "built",
    "burnt", "caught", "chosen", "come", "cut", "dealt", "done", "drawn", "driven", "dug", "eaten",
    "fallen", "felt", "fought", "forbidden", "forgotten", "frozen", "found", "given", "gone",
    "grown", "held", "hidden", "hit", "hung", "hurt", "kept", "known", "laid", "led", "left",
    "lent", "lost", "made", "meant", "met", "overridden", "paid", "put", "quit", "read", "rebuilt",
    "redone", "resent", "reset", "rewritten", "ridden", "risen", "run", "said", "seen", "sent",
    "set", "shaken", "shed", "shown", "shut", "slept", "sold", "spent", "split", "spoken",
    "spread", "stolen", "stood", "struck", "stuck", "sunk", "swept", "sworn", "taken", "taught",
    "thought", "thrown", "told", "torn", "undone", "understood", "upheld", "upset", "withdrawn",
    "withheld", "woken", "won", "worn", "written", "wound", "rung", "sung", "begotten", "bid",
    "cast", "forecast", "broadcast", "outbid", "sped", "fed", "fled", "bled", "bred",
}  # fmt: skip
EED_VERBS = {"agreed", "freed", "guaranteed", "decreed", "disagreed", "refereed", "emceed"}

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def words(name: str) -> list[str]:
    """Return the words of a CamelCase, snake_case or kebab-case name."""
    out: list[str] = []
    for chunk in re.split(r"[_\-\s.]+", name):
        out += _WORDS.findall(chunk)
    return out


def past_tense(word: str) -> bool:
    w = word.lower()
    if w in IRREGULAR or w in EED_VERBS:
        return True
    return w.endswith("ed") and not w.endswith("eed") and len(w) > 3


def naming_problem(name: str | None) -> str | None:
    """Return why ``name`` breaks the past-tense rule, or None when it follows it."""
    if not name:
        return "the schema has no record name (Avro name, JSON Schema title, Protobuf message)"
    short = name.rsplit(".", 1)[-1]
    found = words(short)
    if not found:
        return f"{short} has no words"
    if re.fullmatch(r"Event\d*", short, re.I) or found[0].lower() == "data":
        return f"{short} is a generic name; name the entity and what happened (OrderShipped)"
    last = found[-1]
    entity = [w for w in found[:-1] if not w.isdigit()]
    if not entity:
        return f"{short} names no entity; say what it happened to (OrderShipped, not Shipped)"
    if all(w.lower() in GENERIC for w in entity):
        return f"{short} is a generic name: {' '.join(entity)} is not an entity"
    if not past_tense(last):
        suggestion = "".join(entity) + last + ("d" if last.endswith("e") else "ed")
        return f"{short} is not past tense: {last} should say what happened (such as {suggestion})"
    return None
