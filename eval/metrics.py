"""Metric functions of the faithfulness eval: pure functions over an eval item (a dict from
questions.jsonl) and a rag Answer. No model here; the checker is passed in.

Per item: retrieval hit@k, answer correctness, citation precision / recall (by a Checker), abstention,
conflict surfaced, language match, latency. Aggregated per kind and overall by `aggregate`.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

import numpy as np

from rag import render
from rag.text import STOPWORDS, Number, detect_language, fold, numbers, same_number, strip_markers

ANSWERABLE = ("fact", "english", "followup")
KINDS = ("fact", "english", "unanswerable", "conflict", "followup", "adversarial")


# ---- answer correctness ------------------------------------------------------------------------
def _norm(text: str) -> str:
    """fold() + hyphens/quotes/punctuation as spaces, for phrase matching."""
    return " " + re.sub(r"[\s\-–—«»“”\"()\[\],;:!?.]+", " ", fold(text)).strip() + " "


def _phrase_in(phrase: str, text: str) -> bool:
    """Word-bounded match of a folded phrase; a trailing plural s/x is tolerated."""
    p = _norm(phrase).strip()
    if not p:
        return False
    return re.search(r"(?<![\w])" + re.escape(p) + r"(?:s|x)?(?![\w])", _norm(text)) is not None


def _number_in(expected: Number, found: list[Number]) -> bool:
    for n in found:
        if expected.unit == "%" and n.unit != "%":
            continue
        if same_number(expected, n):
            return True
    return False


def answer_matches(expected: str, text: str) -> bool:
    """Does one expected short answer occur in the answer text?

    Case, accents, apostrophes and spacing are folded; figures are compared as numbers read the French
    and the English way (rag.text.numbers), so "465 billion" = "465 milliards", "10,000" = "10 000",
    "3.5%" = "3,5 %", while "6 millions" does not match inside "5,6 millions". Words beside a figure
    ("20 bâtiments", "37 Go") must occur too (their first letters, to allow a plural)."""
    text = strip_markers(text)
    expected_numbers = numbers(expected)
    if not expected_numbers:
        return _phrase_in(expected, text)
    found = numbers(text)
    if not all(_number_in(e, found) for e in expected_numbers):
        return False
    rest = expected
    for e in expected_numbers:
        rest = rest.replace(e.text, " ")
    folded = _norm(text)
    for word in re.findall(r"\w+", fold(rest)):
        stem = word if len(word) <= 4 else word[: max(4, len(word) - 2)]
        if not re.search(r"(?<!\w)" + re.escape(stem), folded):
            return False
    return True


def correctness(item: dict, text: str) -> bool | None:
    """Answerable items: any of `answers`; conflict items: all of `answers_all`; else None."""
    if item["kind"] == "conflict":
        wanted = item.get("answers_all") or item.get("answers") or []
        return all(answer_matches(a, text) for a in wanted) if wanted else None
    if item.get("answers"):
        return any(answer_matches(a, text) for a in item["answers"])
    return None


def values_given(item: dict, text: str) -> int:
    """How many of a conflict item's different values the answer text (its note included) states:
    aliases of one value ("465 milliards" / "465 billion") count once. A disagreement is surfaced
    when at least two are; a note that lists other figures ("14 %" in a note about the billions lost)
    surfaces nothing. Graded from the item's own answers, not from the pipeline's note."""
    seen: list[str] = []
    for a in item.get("answers_all") or []:
        if answer_matches(a, text) and not any(answer_matches(a, b) and answer_matches(b, a) for b in seen):
            seen.append(a)
    return len(seen)


def _stated(answer) -> str:
    """What an answer states: its shown sentences and the figures of its notes, without the notes'
    source titles (a title such as "Au moment où Donald Trump annonce 500…" states nothing)."""
    if answer.abstained:
        return ""
    said = [s.text for s in answer.sentences if s.supported] or [answer.text or ""]
    return " ".join(said + [f.text for d in answer.conflicts for f in d.figures])


def missing_answers(item: dict, text: str) -> list[str]:
    wanted = item.get("answers_all") if item["kind"] == "conflict" else []
    return [a for a in wanted or [] if not answer_matches(a, text)]


# ---- retrieval ---------------------------------------------------------------------------------
def evidence_spans(item: dict, document_text: Callable[[str], str]) -> list[tuple[str, int, int] | None]:
    """(source, start, end) of each evidence string in the indexed text of its source; None where the
    source is not indexed or the evidence is not in it (a broken eval item: counted as a miss)."""
    spans = []
    for source, evidence in zip(item.get("sources") or [], item.get("evidence") or []):
        try:
            text = document_text(source)
        except KeyError:
            spans.append(None)
            continue
        start = text.find(evidence)
        spans.append(None if start < 0 else (source, start, start + len(evidence)))
    return spans


def retrieval(item: dict, passages: list, document_text: Callable[[str], str]) -> dict:
    """hit: a retrieved passage from the right source overlaps an evidence span (hit@k, k = passages
    given); rank: 1-based rank of the first such passage; coverage: the share of evidence spans
    (one per source) that some passage overlaps, which matters for conflict items."""
    if not item.get("sources"):
        return {"hit": None, "rank": None, "coverage": None, "k": len(passages), "broken_evidence": []}
    spans = evidence_spans(item, document_text)
    broken = [e for e, s in zip(item["evidence"], spans) if s is None]
    rank, covered = None, set()
    for r, p in enumerate(passages, 1):
        for i, span in enumerate(spans):
            if span and p.source == span[0] and p.start < span[2] and span[1] < p.end:
                covered.add(i)
                rank = rank or r
    return {
        "hit": rank is not None,
        "rank": rank,
        "coverage": len(covered) / len(spans) if spans else None,
        "k": len(passages),
        "broken_evidence": broken,
    }


# ---- citations ---------------------------------------------------------------------------------
def claim_units(answer) -> list[tuple[str, str, list[tuple[str, int]]]]:
    """Each answer sentence as (sentence, kind, [(claim text, citation n)]), then each disagreement
    note, whose figures are checked one by one against their own citations."""
    out = [(s.text, "sentence", [(s.text, n) for n in s.citations]) for s in answer.sentences]
    for d in answer.conflicts:
        out.append((render.disagreement(d, answer.language), "conflict_note", [(f.text, f.citation) for f in d.figures]))
    return out


def citation_checks(answer, checker, question: str = "") -> dict:
    """Precision: cited spans that support their sentence (per checker) / all (sentence, span) pairs.
    Recall: answer sentences with at least one supporting citation / all answer sentences.
    None for abstentions (nothing is asserted)."""
    if answer.abstained or not answer.sentences:
        return {"precision": None, "recall": None, "pairs": 0, "sentences": []}
    by_n = {c.n: c for c in answer.citations}
    question = getattr(answer, "standalone_question", "") or question or answer.question
    sentences, good_pairs, pairs = [], 0, 0
    for text, kind, units in claim_units(answer):
        checks = []
        for claim, n in units:
            citation = by_n.get(n)
            if citation is None:
                ok, reason = False, f"[{n}] points at no citation"
            else:
                ok, reason = checker.supports(claim, citation.text, question)
            checks.append({"n": n, "claim": claim, "supported": ok, "reason": reason})
            pairs += 1
            good_pairs += ok
        sentences.append({
            "text": text,
            "kind": kind,
            "checks": checks,
            "supported": any(c["supported"] for c in checks),
        })
    return {
        "precision": good_pairs / pairs if pairs else None,
        "recall": sum(s["supported"] for s in sentences) / len(sentences),
        "pairs": pairs,
        "good_pairs": good_pairs,
        "n_sentences": len(sentences),
        "good_sentences": sum(s["supported"] for s in sentences),
        "sentences": sentences,
    }


# ---- language ----------------------------------------------------------------------------------
def answer_language(answer) -> str | None:
    """Language of what the bot wrote (conflict notes, which quote French titles, left out); for an
    abstention, the language of the abstention message. None when the text has no function word and
    no accented letter to tell ("ASML [1]"): such an answer is not counted for or against."""
    if answer.abstained:
        body = answer.text
    else:
        body = " ".join(s.text for s in answer.sentences) or answer.text
    body = strip_markers(body)
    words = re.findall(r"[a-zA-Zàâäéèêëîïôöùûüç'-]+", body.lower())
    if not any(w in STOPWORDS for w in words) and not re.search(r"[éèêàùç]", body.lower()):
        return None
    return detect_language(body)


# ---- one item ----------------------------------------------------------------------------------
def should_abstain(item: dict) -> bool:
    """Unanswerable items, and adversarial ones (instruction takeover, off-topic task, emoji, a question
    in another language that the corpus does not answer) whose `expect` is "abstain"."""
    return item["kind"] == "unanswerable" or item.get("expect") == "abstain"


def item_metrics(item: dict, answer, checker, document_text: Callable[[str], str], judge=None) -> dict:
    """Every metric of one item; `ok` is the item's verdict and `reasons` says why it failed,
    `issues` lists what else went wrong (retrieval miss, unsupported citation, language)."""
    kind = item["kind"]
    text = answer.text or ""
    r = retrieval(item, answer.passages[: len(answer.passages) - answer.rival_passages], document_text)
    correct = correctness(item, text)
    if answer.abstained and correct is not None:
        correct = False  # the abstention message answers nothing
    cites = citation_checks(answer, checker, item["question"])
    m = {
        "retrieval_hit": r["hit"],
        "retrieval_rank": r["rank"],
        "retrieval_coverage": r["coverage"],
        "k": r["k"],
        "correct": correct,
        "abstained": bool(answer.abstained),
        "should_abstain": should_abstain(item),
        "citation_precision": cites["precision"],
        "citation_recall": cites["recall"],
        "citation_pairs": cites["pairs"],
        "citation_good_pairs": cites.get("good_pairs", 0),
        "answer_sentences": cites.get("n_sentences", 0),
        "supported_sentences": cites.get("good_sentences", 0),
        "language": (lang := answer_language(answer)),
        "language_match": None if lang is None else lang == item["lang"],
        "first_token": answer.timings.get("first_token"),
        "total": answer.timings.get("total"),
    }
    if kind == "conflict":
        m["conflict_all_figures"] = bool(correct)
        m["conflict_flagged"] = bool(answer.conflicts)
        m["conflict_values"] = values_given(item, _stated(answer))
        m["conflict_surfaced"] = bool(correct) or m["conflict_values"] >= 2
        m["missing_figures"] = missing_answers(item, text)
    if judge is not None:
        j = citation_checks(answer, judge, item["question"])
        m["judge_precision"] = j["precision"]
        m["judge_recall"] = j["recall"]
        m["judge_pairs"] = j["pairs"]
        m["judge_good_pairs"] = j.get("good_pairs", 0)
        m["judge_sentences"] = j.get("n_sentences", 0)
        m["judge_good_sentences"] = j.get("good_sentences", 0)
        m["judge_checks"] = j["sentences"]
    m["ok"], m["reasons"] = verdict(item, answer, m)
    m["issues"] = issues(item, m, r, cites)
    m["checks"] = cites["sentences"]
    return m


def crashed(item: dict, error: str) -> dict:
    """Metrics of an item whose run raised: a failed item. Every rate that applies to it counts it as a
    failure (no hit, not correct, not abstained where it should have, no conflict surfaced, wrong
    language; `summarise` adds it to the false abstentions and citation denominators); it has no latency."""
    has_sources = bool(item.get("sources"))
    abstain = should_abstain(item)
    m = {
        "crashed": True,
        "error": error,
        "retrieval_hit": False if has_sources else None,
        "retrieval_rank": None,
        "retrieval_coverage": 0.0 if has_sources else None,
        "k": 0,
        "correct": None if abstain else False,
        "abstained": False if abstain else None,
        "should_abstain": abstain,
        "language": None,
        "language_match": False,
        "first_token": None,
        "total": None,
        "ok": False,
        "reasons": [f"crashed: {error}"],
        "issues": [],
    }
    if item["kind"] == "conflict":
        m.update(conflict_all_figures=False, conflict_flagged=False, conflict_surfaced=False, conflict_values=0,
                 missing_figures=list(item.get("answers_all") or []))
    return m


def verdict(item: dict, answer, m: dict) -> tuple[bool, list[str]]:
    kind = item["kind"]
    if m["should_abstain"]:
        if answer.abstained:
            return True, []
        figures = [n.text for n in numbers(strip_markers(answer.text))]
        extra = f" (figures given: {', '.join(figures)})" if figures else ""
        return False, [f"answered instead of abstaining{extra}"]
    if answer.abstained:
        return False, ["abstained on an answerable question"]
    if kind == "conflict":
        if m["conflict_surfaced"]:
            return True, []
        noted = "a conflict note without them" if answer.conflicts else "no conflict note"
        return False, [f"conflict not surfaced: missing {', '.join(m['missing_figures'])}; {noted}"]
    if m["correct"]:
        return True, []
    return False, [f"none of {item.get('answers')} in the answer"]


def issues(item: dict, m: dict, r: dict, cites: dict) -> list[str]:
    out = []
    if r["broken_evidence"]:
        out.append(f"evidence not found in the indexed text: {r['broken_evidence']}")
    if r["hit"] is False:
        out.append(f"retrieval miss: no passage overlaps the evidence in top {r['k']}")
    if item["kind"] == "conflict" and m["conflict_surfaced"] and not m["conflict_all_figures"]:
        out.append(f"conflict surfaced but figures missing: {', '.join(m['missing_figures'])}")
    for s in cites["sentences"]:
        for c in s["checks"]:
            if not c["supported"]:
                out.append(f"citation [{c['n']}] does not support {c['claim'][:80]!r}: {c['reason']}")
        if not s["checks"]:
            out.append(f"uncited sentence: {s['text'][:80]!r}")
    if m["language_match"] is False:
        out.append(f"answer language {m['language']} != question language {item['lang']}")
    return out


# ---- aggregation -------------------------------------------------------------------------------
def _rate(values: Iterable) -> float | None:
    values = [bool(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def latency(values: Iterable[float | None]) -> dict:
    xs = np.array([v for v in values if v is not None], dtype=float)
    if xs.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "max": None}
    return {
        "n": int(xs.size),
        "mean": float(xs.mean()),
        "p50": float(np.percentile(xs, 50)),
        "p95": float(np.percentile(xs, 95)),
        "max": float(xs.max()),
    }


def summarise(rows: list[dict]) -> dict:
    """Aggregate metrics over rows of {"kind": ..., "metrics": item_metrics(...) or crashed(...)}.

    Rates are over the items where the metric applies (None where none does): correctness over
    answerable and conflict items, abstention accuracy over the items that should be abstained on
    (`should_abstain`), false abstention over the others; citation precision and recall are
    micro-averages over all (sentence, citation) pairs and all answer sentences. A crashed item is a
    failed item in every rate that applies to it: a false abstention, and one unsupported citation and
    sentence."""
    ms = [r["metrics"] for r in rows]
    kinds = [r["kind"] for r in rows]
    abstain = [m.get("should_abstain", k == "unanswerable") for m, k in zip(ms, kinds)]
    answerable = [m for m, a in zip(ms, abstain) if not a]
    unanswerable = [m for m, a in zip(ms, abstain) if a]
    conflict = [m for m, k in zip(ms, kinds) if k == "conflict"]
    crashed_answers = sum(bool(m.get("crashed")) for m in answerable)
    s = {
        "n": len(ms),
        "crashed": sum(bool(m.get("crashed")) for m in ms),
        "ok": _rate(m.get("ok") for m in ms),
        "retrieval_hit": _rate(m.get("retrieval_hit") for m in ms),
        "retrieval_coverage": (
            float(np.mean(cov)) if (cov := [m["retrieval_coverage"] for m in ms if m.get("retrieval_coverage") is not None]) else None
        ),
        "correctness": _rate(m.get("correct") for m in answerable),
        "citation_precision": _ratio(sum(m.get("citation_good_pairs", 0) for m in ms),
                                     sum(m.get("citation_pairs", 0) for m in ms) + crashed_answers),
        "citation_recall": _ratio(sum(m.get("supported_sentences", 0) for m in ms),
                                  sum(m.get("answer_sentences", 0) for m in ms) + crashed_answers),
        "abstention_accuracy": _rate(m.get("abstained") for m in unanswerable),
        "false_abstention": _rate(m.get("crashed") or m.get("abstained") for m in answerable),
        "conflict_all_figures": _rate(m.get("conflict_all_figures") for m in conflict),
        "conflict_flagged": _rate(m.get("conflict_flagged") for m in conflict),
        "conflict_surfaced": _rate(m.get("conflict_surfaced") for m in conflict),
        "language_match": _rate(m.get("language_match") for m in ms),
        "first_token": latency(m.get("first_token") for m in ms),
        "total": latency(m.get("total") for m in ms),
    }
    if any("judge_pairs" in m for m in ms):
        s["judge_precision"] = _ratio(sum(m.get("judge_good_pairs", 0) for m in ms),
                                      sum(m.get("judge_pairs", 0) for m in ms) + crashed_answers)
        s["judge_recall"] = _ratio(sum(m.get("judge_good_sentences", 0) for m in ms),
                                   sum(m.get("judge_sentences", 0) for m in ms) + crashed_answers)
    return s


def aggregate(rows: list[dict]) -> dict:
    """{"all": summarise(every row), "by_kind": {kind: …}, "by_split": {"dev": …, "test": …}}. The test
    split is held back: prompts and thresholds are tuned on dev only, test is where they are judged."""
    present = [k for k in KINDS if any(r["kind"] == k for r in rows)]
    present += sorted({r["kind"] for r in rows} - set(present))
    splits = [s for s in ("dev", "test") if any(r.get("split") == s for r in rows)]
    return {"all": summarise(rows), "by_kind": {k: summarise([r for r in rows if r["kind"] == k]) for k in present},
            "by_split": {s: summarise([r for r in rows if r.get("split") == s]) for s in splits}}


# ---- thresholds --------------------------------------------------------------------------------
def check_thresholds(agg: dict, thresholds: dict[str, float | None]) -> list[str]:
    """Failures, one line each, for thresholds named [<kind>.]min_<metric> / [<kind>.]max_<metric>:
    without a kind they apply to the overall row, with one to that kind's row ("followup.min_correctness").
    Latency metrics compare their p95. A kind absent from the run, or a metric the run did not measure
    (None, e.g. correctness in a retrieval-only run), is skipped, not failed."""
    failures = []
    for name, limit in thresholds.items():
        if limit is None:
            continue
        scope, _, rule = name.rpartition(".")
        bound, _, metric = rule.partition("_")
        if bound not in ("min", "max") or metric not in agg["all"]:
            raise ValueError(f"unknown threshold {name!r}: use [<kind>.]min_<metric> or [<kind>.]max_<metric> "
                             f"of {sorted(agg['all'])}")
        if scope and scope not in KINDS and scope not in agg["by_kind"]:
            raise ValueError(f"unknown kind {scope!r} in threshold {name!r}: use one of {list(KINDS)}")
        summary = agg["by_kind"].get(scope) if scope else agg["all"]
        value = None if summary is None else summary[metric]
        if isinstance(value, dict):  # latency: compare the p95
            value = value.get("p95")
        if value is None:
            continue
        where = f"{scope} " if scope else ""
        if bound == "min" and value < limit:
            failures.append(f"{where}{metric} = {value:.3f} is below the threshold {name} = {limit:.3f}")
        if bound == "max" and value > limit:
            failures.append(f"{where}{metric} = {value:.3f} is above the threshold {name} = {limit:.3f}")
    return failures


def crash_summary(records: list[dict]) -> list[str]:
    """One line per distinct error of the crashed items: how many, which error, which items."""
    by_error: dict[str, list[str]] = {}
    for r in records:
        if r["metrics"].get("crashed"):
            by_error.setdefault(r["metrics"]["error"], []).append(r["id"])
    return [f"{len(ids)} item(s) crashed with {error} ({', '.join(ids)})" for error, ids in by_error.items()]
