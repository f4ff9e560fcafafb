import itertools

from services.ingestion.chunking import split_passages


def test_passages_respect_size_and_overlap_on_word_boundaries() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(100))
    passages = split_passages(text, size=120, overlap=30)
    assert all(len(p) <= 120 for p in passages)
    assert len(passages) > 10
    for previous, current in itertools.pairwise(passages):
        assert current.split()[0] in previous  # starts with the previous passage's tail


def test_paragraphs_stay_whole_when_they_fit() -> None:
    assert split_passages("One.\n\nTwo.", size=100, overlap=0) == ["One. Two."]


def test_a_word_longer_than_the_size_is_sliced() -> None:
    assert split_passages("x" * 250, size=100, overlap=0) == ["x" * 100, "x" * 100, "x" * 50]
