"""Stemming from several threads at once (a web server writing exchanges) gives the same
stems as from one: each thread has its own Snowball stemmer, which keeps the word being
stemmed in its own fields while it works."""

from __future__ import annotations

import threading

from grc_core import french_text

WORDS = ["contrats", "relancer", "livraisons", "signature", "echeances", "maintenance"]


def test_each_thread_stems_with_its_own_stemmer() -> None:
    expected = {w: french_text._stemmer().stemWord(w) for w in WORDS}
    stemmers: list[object] = []
    wrong: list[str] = []

    def work() -> None:
        stemmer = french_text._stemmer()
        stemmers.append(stemmer)
        for word in WORDS * 2000:
            if stemmer.stemWord(word) != expected[word]:
                wrong.append(word)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len({id(s) for s in stemmers}) == 4
    assert french_text._stemmer() is french_text._stemmer()  # kept within a thread
