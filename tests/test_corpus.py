"""The KJV from Debian's `bible` program: books, verses and the recitation model's passages."""

import json
import os
import shutil

import pytest

from llada_demo.corpus import BOOKS, bible_books, bible_verses, passage
from llada_demo.loading import BUNDLED_MODEL_DIR

pytestmark = pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"),
                                reason="Debian's bible-kjv is not installed (scripts/setup.sh dev installs it)")
PASSAGES = BUNDLED_MODEL_DIR.parent / "llada-recite" / "passages.json"


@pytest.fixture(scope="module")
def verses():
    return bible_verses()


def test_the_passages_resolve_to_their_verses(verses):
    references = json.loads(PASSAGES.read_text())["passages"]
    counts = [len(passage(r, verses)) for r in references]
    assert counts == [6, 8, 5, 3, 8, 5, 5, 8, 6, 2]
    assert sum(c - 1 for c in counts) == 46  # consecutive verse pairs within the passages
    assert passage("Psalms 23:1", verses) == ["The LORD is my shepherd; I shall not want."]
    assert passage("1 Corinthians 13:4-5", verses)[0].startswith("Charity suffereth long")


@pytest.mark.parametrize("reference,message", [
    ("Psalm 23:1", "no book named 'Psalm'"),
    ("Psalms 23", "not a reference"),
    ("Psalms 23:7", "Psalms 23 has no verse 7"),
    ("John 3:18-16", "runs backwards"),
])
def test_bad_references_say_what_is_wrong(verses, reference, message):
    with pytest.raises(ValueError, match=message):
        passage(reference, verses)


def test_books_are_the_verses_in_order(verses):
    books = bible_books()
    assert list(books) == [name for _, name in BOOKS]
    assert books["Genesis"].split("\n")[:2] == [verses["Genesis", 1, 1], verses["Genesis", 1, 2]]
    assert sum(len(b.split("\n")) for b in books.values()) == len(verses) == 31102
