"""The eval data itself, without a model: eval/support.jsonl (labelled (sentence, cited span) pairs for
the support checker) and eval/questions.jsonl (the items `rag eval` asks). Schema, counts per class and
split, every passage and evidence copied exactly from its corpus file, and the held-back test split
frozen (see eval/README.md)."""
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from eval.metrics import answer_matches
from rag.text import numbers

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SPLITS = {"dev", "test"}
UNSUPPORTED = ("near_miss", "wrong_attribution", "garbled", "flipped", "unchecked", "wrong_number", "unsupported_extra")
CLASSES = ("supported",) + UNSUPPORTED
SUPPORT_KEYS = {"id", "split", "lang", "question", "sentence", "source", "passage", "supported", "class", "note"}
QUESTION_KEYS = {"id", "kind", "lang", "question", "history", "sources", "evidence", "answers", "answers_all", "fast"}
KINDS = {"fact", "english", "unanswerable", "conflict", "followup", "adversarial"}
ADVERSARIAL = {"takeover", "off_topic_task", "emoji", "other_language"}
# sha256 of "id:split" lines of sup-001 … sup-168: the split was fixed before any tuning and never moves.
FROZEN_SPLIT = "c405b5b01a3b8a379b9a6be89207a7f4f44bf9adf35520db31d065e857f86c68"


def _jsonl(name: str) -> list[dict]:
    lines = (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _corpus(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def support():
    return _jsonl("support.jsonl")


@pytest.fixture(scope="module")
def questions():
    return _jsonl("questions.jsonl")


# ---- support.jsonl -----------------------------------------------------------------------------
def test_support_items_have_the_schema(support):
    for item in support:
        assert set(item) == SUPPORT_KEYS, item["id"]
        assert re.fullmatch(r"sup-\d{3}", item["id"])
        assert item["split"] in SPLITS and item["lang"] in {"fr", "en"} and item["class"] in CLASSES, item["id"]
        assert item["supported"] is (item["class"] == "supported"), item["id"]
        assert item["question"].strip() and item["sentence"].strip() and item["note"].strip(), item["id"]
        assert not re.search(r"\[\d+\]", item["sentence"]), f"{item['id']}: no citation markers in sentences"
    ids = [i["id"] for i in support]
    assert len(set(ids)) == len(ids)


def test_support_passages_are_exact_corpus_spans(support):
    for item in support:
        assert 80 <= len(item["passage"]) <= 600, item["id"]
        assert item["passage"] in _corpus(item["source"]), f"{item['id']}: passage not in {item['source']}"


def test_support_counts_per_class_language_and_split(support):
    assert len(support) >= 160
    classes = Counter(i["class"] for i in support)
    assert all(classes[c] >= 12 for c in UNSUPPORTED), classes
    assert 0.40 <= classes["supported"] / len(support) <= 0.50
    assert 0.25 <= sum(i["lang"] == "en" for i in support) / len(support) <= 0.35
    cells = Counter((i["class"], i["lang"], i["split"]) for i in support)
    for c in CLASSES:
        for lang in ("fr", "en"):
            assert cells[(c, lang, "dev")] and cells[(c, lang, "test")], (c, lang)  # both splits, both languages
        dev = sum(cells[(c, lang, "dev")] for lang in ("fr", "en"))
        assert 0.4 <= dev / classes[c] <= 0.6, c  # stratified ~50/50


def test_unchecked_sentences_have_no_figure(support):
    for item in support:
        if item["class"] == "unchecked":
            assert not numbers(item["sentence"]), item["id"]


def test_no_sentence_is_in_both_splits(support):
    by_split = {s: {i["sentence"] for i in support if i["split"] == s} for s in SPLITS}
    assert not by_split["dev"] & by_split["test"]


def test_the_test_split_is_frozen(support):
    frozen = [i for i in support if int(i["id"][4:]) <= 168]
    digest = hashlib.sha256("\n".join(f"{i['id']}:{i['split']}" for i in frozen).encode()).hexdigest()
    assert len(frozen) == 168 and digest == FROZEN_SPLIT, "a split was changed: the test split is never moved"


# ---- questions.jsonl ---------------------------------------------------------------------------
def test_question_items_have_the_schema(questions):
    ids = [i["id"] for i in questions]
    assert len(set(ids)) == len(ids)
    for item in questions:
        assert QUESTION_KEYS <= set(item), item["id"]
        assert item["kind"] in KINDS and item["question"].strip(), item["id"]
        assert len(item["sources"]) == len(item["evidence"]), item["id"]
        assert item.get("split", "dev") in SPLITS, item["id"]
        assert (item["kind"] == "conflict") == bool(item["answers_all"]), item["id"]
        if item["kind"] == "unanswerable":
            assert not item["sources"] and not item["answers"], item["id"]
            assert item.get("subkind", "near_miss") == "near_miss", item["id"]


def test_evidence_is_exact_and_answers_occur_in_the_sources(questions):
    for item in questions:
        texts = [_corpus(s) for s in item["sources"]]
        for evidence, text in zip(item["evidence"], texts):
            assert evidence in text, f"{item['id']}: {evidence!r}"
        joined = "\n".join(texts)
        if item["answers"]:
            assert any(answer_matches(a, joined) for a in item["answers"]), item["id"]
        for figure in item["answers_all"]:
            assert answer_matches(figure, joined), f"{item['id']}: {figure}"


def test_adversarial_items_say_what_is_expected(questions):
    adversarial = [i for i in questions if i["kind"] == "adversarial"]
    assert len(adversarial) >= 10
    assert {i["subkind"] for i in adversarial} == ADVERSARIAL
    for item in adversarial:
        assert item["subkind"] in ADVERSARIAL and "split" in item, item["id"]
        answers_in_language = item["expect"] == "answer_in_language"
        assert item["expect"] in {"abstain", "answer_in_language"}, item["id"]
        assert answers_in_language == bool(item["answers"]) == bool(item["sources"]), item["id"]
        other = item["subkind"] == "other_language"
        assert other == (item["lang"] not in {"fr", "en"}), item["id"]  # the question's own language code
        assert other or not answers_in_language, item["id"]


NEW_SINCE = {"unanswerable": 13, "conflict": 9, "adversarial": 1}  # the items added for issue 12


def test_every_item_has_a_split_and_ci_gates_on_dev_items_only(questions):
    assert {i["split"] for i in questions} == SPLITS
    assert all(i["split"] == "dev" for i in questions if i["fast"])
    for kind in {i["kind"] for i in questions}:
        assert {i["split"] for i in questions if i["kind"] == kind} == SPLITS, kind


def test_new_items_counts_splits_and_fast_subset(questions):
    new = [i for i in questions if int(i["id"].split("-")[1]) >= NEW_SINCE.get(i["kind"], 1000)]
    near_miss = [i for i in new if i.get("subkind") == "near_miss"]
    conflicts = [i for i in new if i["kind"] == "conflict"]
    assert len(near_miss) >= 20 and len(conflicts) >= 8
    assert {i["lang"] for i in conflicts} == {"fr", "en"}
    for group in (near_miss, conflicts, [i for i in new if i["kind"] == "adversarial"]):
        assert {i["split"] for i in group} == SPLITS
    fast = Counter(i.get("subkind") or i["kind"] for i in new if i["fast"])
    assert fast == {"near_miss": 2, "conflict": 1, "emoji": 1}
    assert all(i["split"] == "dev" for i in new if i["fast"])  # CI gates on dev items only
