from shared.platform.datasets import FaqEntry, faq_entries

PAGE = """\
:tocdepth: 2

=========================
Library and Extension FAQ
=========================

.. contents::

General Library Questions
=========================

How do I find a module?
-----------------------

Check the Library Reference.

Search the Package Index.


Where is math.py?
-----------------

It may be built in::

   import sys

Common tasks
============

Intro text of a section that is not a question.

Why?
~~~~

Because.
"""


def test_questions_are_headings_ending_in_a_question_mark() -> None:
    entries = faq_entries(PAGE)

    assert [e.question for e in entries] == ["How do I find a module?", "Where is math.py?", "Why?"]


def test_an_answer_runs_to_the_next_heading_of_any_level_without_its_heading() -> None:
    entries = {e.question: e for e in faq_entries(PAGE)}

    assert entries["How do I find a module?"] == FaqEntry(
        question="How do I find a module?",
        answer="Check the Library Reference.\n\nSearch the Package Index.",
    )
    assert entries["Where is math.py?"].answer == "It may be built in::\n\n   import sys"
    assert entries["Why?"].answer == "Because."


def test_a_page_without_questions_has_no_entries() -> None:
    assert faq_entries("Title\n=====\n\nJust text?\n") == []
