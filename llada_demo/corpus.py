"""Training text: the King James Bible (Debian's `bible-kjv`) or the user's own UTF-8 files.

Both sources come out as two dicts {name: text}, one for training and one held out. The Bible
holds out whole books (one of each kind of writing), so held-out numbers measure generalisation to
unseen text in the same style; a user's file holds out its last ~5%.
The corpus itself is never stored in the repository: it is read from the installed package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import torch

# The `bible` program's short reference prefixes (as printed with -f), in canonical order.
BOOKS = [
    ("Ge", "Genesis"), ("Exo", "Exodus"), ("Lev", "Leviticus"), ("Num", "Numbers"), ("Deu", "Deuteronomy"),
    ("Josh", "Joshua"), ("Jdgs", "Judges"), ("Ruth", "Ruth"), ("1Sm", "1 Samuel"), ("2Sm", "2 Samuel"),
    ("1Ki", "1 Kings"), ("2Ki", "2 Kings"), ("1Chr", "1 Chronicles"), ("2Chr", "2 Chronicles"), ("Ezra", "Ezra"),
    ("Neh", "Nehemiah"), ("Est", "Esther"), ("Job", "Job"), ("Psa", "Psalms"), ("Prv", "Proverbs"),
    ("Eccl", "Ecclesiastes"), ("SSol", "Song of Solomon"), ("Isa", "Isaiah"), ("Jer", "Jeremiah"),
    ("Lam", "Lamentations"), ("Eze", "Ezekiel"), ("Dan", "Daniel"), ("Hos", "Hosea"), ("Joel", "Joel"),
    ("Amos", "Amos"), ("Obad", "Obadiah"), ("Jonah", "Jonah"), ("Mic", "Micah"), ("Nahum", "Nahum"),
    ("Hab", "Habakkuk"), ("Zep", "Zephaniah"), ("Hag", "Haggai"), ("Zec", "Zechariah"), ("Mal", "Malachi"),
    ("Mat", "Matthew"), ("Mark", "Mark"), ("Luke", "Luke"), ("John", "John"), ("Acts", "Acts"),
    ("Rom", "Romans"), ("1Cor", "1 Corinthians"), ("2Cor", "2 Corinthians"), ("Gal", "Galatians"),
    ("Eph", "Ephesians"), ("Phi", "Philippians"), ("Col", "Colossians"), ("1Th", "1 Thessalonians"),
    ("2Th", "2 Thessalonians"), ("1Tim", "1 Timothy"), ("2Tim", "2 Timothy"), ("Titus", "Titus"),
    ("Phmn", "Philemon"), ("Heb", "Hebrews"), ("Jas", "James"), ("1Pet", "1 Peter"), ("2Pet", "2 Peter"),
    ("1Jn", "1 John"), ("2Jn", "2 John"), ("3Jn", "3 John"), ("Jude", "Jude"), ("Rev", "Revelation"),
]
# Never trained on: one book of the Law, one poetic, one prophet, one gospel, one epistle.
HELDOUT_BOOKS = ("Deuteronomy", "Ecclesiastes", "Micah", "Mark", "James")
HOLDOUT_FRACTION = 0.05  # of each user text file

_VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")


def bible_verses() -> dict[tuple[str, int, int], str]:
    """Every verse of the KJV as {(book name, chapter, verse): text}, in canonical order."""
    if shutil.which("bible") is None:
        raise RuntimeError("the King James Bible comes from Debian's `bible` program: "
                           "run `apt-get install bible-kjv` (it pulls in bible-kjv-text)")
    # -f turns pretty-printing off, so each verse is one line: "Ge1:1 In the beginning ..."
    out = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], capture_output=True, text=True, check=True).stdout
    names = dict(BOOKS)
    verses: dict[tuple[str, int, int], str] = {}
    for line in out.splitlines():
        m = _VERSE.match(line.strip())
        if m is not None:
            abbrev, chapter, verse, text = m.groups()
            verses[names[abbrev], int(chapter), int(verse)] = text.strip()
    if len({book for book, _, _ in verses}) != len(BOOKS):
        raise RuntimeError("`bible` printed fewer books than the 66 expected; is bible-kjv-text intact?")
    return verses


def bible_books() -> dict[str, str]:
    """All 66 books of the KJV as {book name: text}, one verse per line, references stripped."""
    books: dict[str, list[str]] = {}
    for (book, _, _), text in bible_verses().items():
        books.setdefault(book, []).append(text)
    return {name: "\n".join(lines) for name, lines in books.items()}


_REFERENCE = re.compile(r"^\s*(\d?\s?[A-Za-z][A-Za-z ]*?)\s+(\d+):(\d+)(?:-(\d+))?\s*$")


def parse_reference(reference: str) -> tuple[str, int, int, int]:
    """(book, chapter, first verse, last verse) of a reference such as "Psalms 23:1-6" or "John 3:16"."""
    m = _REFERENCE.match(reference)
    if m is None:
        raise ValueError(f"{reference!r} is not a reference like 'Psalms 23:1-6'")
    book, chapter, first, last = m.group(1).strip(), int(m.group(2)), int(m.group(3)), m.group(4)
    if book not in dict((name, name) for _, name in BOOKS):
        raise ValueError(f"{reference!r}: no book named {book!r} (names as in 'Song of Solomon', '1 Corinthians')")
    last = int(last) if last else first
    if last < first:
        raise ValueError(f"{reference!r}: the range runs backwards")
    return book, chapter, first, last


def passage(reference: str, verses: dict | None = None) -> list[str]:
    """The verses of a reference such as "Psalms 23:1-6" or "John 3:16", in order (one chapter)."""
    book, chapter, first, last = parse_reference(reference)
    verses = verses if verses is not None else bible_verses()
    missing = [v for v in range(first, last + 1) if (book, chapter, v) not in verses]
    if missing:
        raise ValueError(f"{reference!r}: {book} {chapter} has no verse {missing[0]}")
    return [verses[book, chapter, v] for v in range(first, last + 1)]


# The LLaDA paper's form of the reversal test (after Berglund et al. 2023, "the reversal curse"): a verse
# asked for by its neighbour, as an instruction in plain text (our models are base models, no chat).
INSTRUCTIONS = {"forward": "The verse after: ", "backward": "The verse before: "}


def instruction(direction: str, a: str, b: str) -> tuple[str, str]:
    """(prompt, answer) for a pair of consecutive verses (A, B): forward asks for B after A, backward
    for A before B. The prompt ends with a newline; prompt + answer is the text a model trains on."""
    given, answer = (a, b) if direction == "forward" else (b, a)
    return INSTRUCTIONS[direction] + given + "\n", answer


def bible_split() -> tuple[dict[str, str], dict[str, str]]:
    """(train, held_out) books of the KJV."""
    books = bible_books()
    train = {k: v for k, v in books.items() if k not in HELDOUT_BOOKS}
    held = {k: books[k] for k in HELDOUT_BOOKS}
    return train, held


def text_files_split(paths, holdout: float = HOLDOUT_FRACTION) -> tuple[dict[str, str], dict[str, str]]:
    """(train, held_out) from UTF-8 text files: each file's last `holdout` share is held out.

    The cut moves forward to the next line break so no line is split between the two parts.
    """
    train, held = {}, {}
    for p in map(Path, paths):
        text = p.read_text(encoding="utf-8")
        cut = int(len(text) * (1 - holdout))
        newline = text.find("\n", cut)
        if newline != -1 and newline < len(text) - 1:
            cut = newline + 1
        train[str(p)], held[str(p)] = text[:cut], text[cut:]
    return train, held


def load_corpus(text_files=None) -> tuple[dict[str, str], dict[str, str]]:
    """The user's files if given, else the Bible."""
    return text_files_split(text_files) if text_files else bible_split()


def encode_docs(tok, docs: dict[str, str]) -> torch.Tensor:
    """One token stream: each document followed by EOS, so the model learns where texts end."""
    eos = tok.eos_token_id
    ids = []
    for enc in tok.backend_tokenizer.encode_batch(list(docs.values()), add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def heldout_windows(stream: torch.Tensor, seq_len: int, n: int | None = None) -> torch.Tensor:
    """Non-overlapping windows spread evenly over the held-out stream (fixed, so numbers compare)."""
    count = len(stream) // seq_len
    all_windows = stream[: count * seq_len].view(count, seq_len)
    if n is None or n >= count:
        return all_windows
    pick = torch.linspace(0, count - 1, n).round().long()
    return all_windows[pick]
