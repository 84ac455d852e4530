"""The words nothing a patient receives may say, and the one filter that takes them out.

A reminder, the answer page it links to and the calendar feed show up on lock screens,
in shared calendars and in mail previews: they name the clinic, the time and the
preparation, never the drug or the diagnosis. A clinic's own name or address may well
say them ("Manhattan Ketamine & Depression Center"), so every field such a text takes
from the clinic goes through `discreet`. Pure: no database, no Django.
"""

import re

# Stems: a word containing one is the drug's or the diagnosis's ("Depression",
# "psychiatrist", "Esketamine"). Checked on every rendered message and every clinic edit.
FORBIDDEN_WORDS = (
    "esketamine",
    "ketamine",
    "spravato",
    "depress",
    "suicid",
    "psychiatr",
    "bipolar",
    "ptsd",
)
_FORBIDDEN_RE = re.compile("|".join(FORBIDDEN_WORDS), re.IGNORECASE)

# Joining words left dangling once a forbidden word next to them is gone:
# "Ketamine & Depression" -> "", "Center for Ketamine Therapy" -> "Center Therapy".
_JOINERS = frozenset({"&", "+", "/", "-", "–", "—", "and", "or", "for", "of"})
_TRAILING = ",;:"


def forbidden_words_in(text: str) -> list[str]:
    folded = (text or "").casefold()
    # Run on every message sent: plain substring tests rule out nearly all text at a
    # tenth of the regular expression's cost, which then names what was found.
    if not any(word in folded for word in FORBIDDEN_WORDS):
        return []
    return sorted({m.group(0).lower() for m in _FORBIDDEN_RE.finditer(text)})


def discreet(text: str) -> str:
    """`text` without the drug or the diagnosis, still readable.

    The rule: each whitespace-separated word containing a forbidden stem is dropped,
    with any joining word ("&", "and", "for", "of", ...) it leaves dangling; a comma
    after a dropped word stays; a line left empty is dropped. So "Manhattan Ketamine &
    Depression Center" reads "Manhattan Center". Text without such a word comes back
    as it is.
    """
    if not forbidden_words_in(text):
        return text or ""
    lines = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            lines.append(line)
            continue
        keep = [not _FORBIDDEN_RE.search(word) for word in words]
        changed = True
        while changed:  # "Ketamine & Depression": the "&" goes with either neighbour
            changed = False
            for i, word in enumerate(words):
                dangling = any(not keep[j] for j in (i - 1, i + 1) if 0 <= j < len(words))
                if keep[i] and dangling and word.casefold().rstrip(_TRAILING) in _JOINERS:
                    keep[i], changed = False, True
        out: list[str] = []
        for word, kept in zip(words, keep, strict=True):
            if kept:
                out.append(word)
                continue
            tail = word[len(word.rstrip(_TRAILING)) :]
            if tail and out and not out[-1].endswith(tail):
                out[-1] += tail
        if out:
            joined = " ".join(out)
            lines.append(joined if keep[-1] else joined.rstrip(_TRAILING))
    return "\n".join(lines).strip("\n")
