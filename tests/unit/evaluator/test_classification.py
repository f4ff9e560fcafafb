"""Streaming classification metrics equal scikit-learn's on real labelled data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from services.evaluator.classification import Confusion, classification_metrics
from shared.kit.settings import cache_dir
from shared.platform.labelled import rotten_tomatoes


@pytest.fixture(scope="module")
def predictions() -> tuple[list[str], list[str]]:
    """A real classifier's predictions on held-out Rotten Tomatoes snippets, and their labels."""
    data = rotten_tomatoes(cache_dir() / "datasets")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    train, test = order[:9000], order[9000:]
    vectorizer = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform([data[i].text for i in train])
    model = LogisticRegression(max_iter=1000).fit(features, [data[i].label for i in train])
    predicted = model.predict(vectorizer.transform([data[i].text for i in test])).tolist()
    return [data[i].label for i in test], [str(p) for p in predicted]


@pytest.mark.evaluation
def test_metrics_of_a_stream_equal_scikit_learns_exactly(
    predictions: tuple[list[str], list[str]],
) -> None:
    truth, predicted = predictions
    assert len(truth) > 4800
    assert set(truth) == {"fresh", "rotten", "plot"}
    # Streamed one pair at a time into three windows, then summed, as the evaluator does.
    windows = [Confusion(), Confusion(), Confusion()]
    for i, pair in enumerate(zip(truth, predicted, strict=True)):
        windows[i % 3].add(*pair)
    metrics = classification_metrics(windows[0] + windows[1] + windows[2])

    assert metrics.count == len(truth)
    assert metrics.accuracy == accuracy_score(truth, predicted)
    assert 0.6 < metrics.accuracy < 0.95  # a real model, neither broken nor leaking
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, average=None, zero_division=0
    )
    for i, label in enumerate(sorted(set(truth) | set(predicted))):
        per_class = metrics.per_class[label]
        assert per_class.precision == precision[i]
        assert per_class.recall == recall[i]
        assert per_class.f1 == f1[i]
        assert per_class.support == support[i]
    macro = precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    assert (metrics.macro_precision, metrics.macro_recall, metrics.macro_f1) == macro[:3]
    assert metrics.matrix == confusion_matrix(truth, predicted, labels=metrics.labels).tolist()


def test_a_label_never_predicted_scores_zero_like_scikit_learn() -> None:
    truth = ["spam", "spam", "ham", "ham", "ham", "eggs"]
    predicted = ["spam", "ham", "ham", "ham", "spam", "ham"]
    metrics = classification_metrics(Confusion.of(zip(truth, predicted, strict=True)))
    precision, _recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average=None, zero_division=0
    )
    assert metrics.labels == ["eggs", "ham", "spam"]
    assert [metrics.per_class[label].precision for label in metrics.labels] == precision.tolist()
    assert [metrics.per_class[label].f1 for label in metrics.labels] == f1.tolist()
    assert metrics.per_class["eggs"].f1 == 0.0
    macro = precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    assert metrics.macro_f1 == macro[2]


def test_no_pairs_no_metrics() -> None:
    metrics = classification_metrics(Confusion())
    assert (metrics.accuracy, metrics.macro_f1, metrics.count, metrics.labels) == (0.0, 0.0, 0, [])
