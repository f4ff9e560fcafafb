import itertools

from services.ingestion.chunking import split_passages
from tests.fakes import WordTokenizer

WORDS = WordTokenizer()


def test_passages_are_whole_sentences_within_size_with_overlap() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(100))  # 5 words each
    passages = split_passages(text, tokens=WORDS, size=22, overlap=6)
    assert all(len(p.split()) <= 22 for p in passages)
    assert all(p.startswith("Sentence") and p.endswith("here.") for p in passages)
    for previous, current in itertools.pairwise(passages):
        assert current.split(".")[0] in previous  # opens with the previous one's last sentence
    assert len(passages) == 33  # 4 sentences a passage, 1 of them carried: 100 = 4 + 3 * 32


def test_no_overlap_means_each_sentence_once() -> None:
    text = "\n\n".join(f"Para {i} text." for i in range(10))
    passages = split_passages(text, tokens=WORDS, size=6, overlap=0)
    assert " ".join(passages) == " ".join(f"Para {i} text." for i in range(10))


def test_a_sentence_longer_than_the_size_is_cut_at_token_boundaries() -> None:
    text = " ".join(f"w{i}" for i in range(25))
    passages = split_passages(text, tokens=WORDS, size=10, overlap=0)
    assert [len(p.split()) for p in passages] == [10, 10, 5]


def test_blank_text_has_no_passages() -> None:
    assert split_passages(" \n\n \t", tokens=WORDS, size=10, overlap=2) == []
