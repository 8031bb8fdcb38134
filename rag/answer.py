"""Question -> cited Answer: condense follow-ups, retrieve, prompt, stream, verify, abstain, flag conflicts.

The Answerer is composed of what it needs and nothing more: a search function, an LLM, a sentence
scorer and the settings. The Bot builds one; a test can build one from fakes.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .asks import another_time, counted, someone_else, unanswered
from .cite import Verifier, split_answer
from .claims import claims
from .disputes import RIVAL_P, FigureAt, disagreements, disputed, quantity_of, rival_figures, subject_of
from .config import Settings
from .errors import QuestionError
from .llms import LLM, StartGate
from .prompt import (ABSTAIN_TOKEN, LANGUAGE_NAME, SentenceScorer, answer_messages, condense_messages, excerpts,
                     is_instruction, translate_messages)
from .retrieve import fuse
from .support import SupportCheck
from .render import ABSTAIN, text as render_text
from .text import clearly_in, content_stems, detect_language, fold, is_trivial, numbers, same_number
from .types import Answer, Disagreement, Excerpt, Figure, Passage, Sentence, Span

Search = Callable[[str, int | None], list[Passage]]  # (query, k) -> passages, best first

_ABSTAIN_PHRASES = re.compile(
    r"NOT_IN_DOCUMENTS|ne (le )?(disent|mentionnent|précisent) pas|ne contiennent pas|"
    r"(don't|do not) (say|mention|contain)|not (mentioned|stated) in", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# An answer the model gives after its "the documents don't say" was refused as too unsure: it states
# the answer in its first sentence or two; past this many streamed pieces (tokens, for llama.cpp) it
# stops at the next sentence's end
# (a model that had nothing to say otherwise fills 256 tokens, and each sentence costs a check).
DOUBTED_TOKENS = 32


def clean_question(question: str, limit: int) -> str:
    question = _CONTROL.sub(" ", question or "").strip()
    if not question:
        raise QuestionError("the question is empty: type a question about the documents")
    if len(question) > limit:
        raise QuestionError(
            f"the question is {len(question):,} characters long; the limit is {limit:,} "
            f"(RAG_MAX_QUESTION_CHARS): ask a shorter question"
        )
    return question


class Answerer:
    def __init__(self, search: Search, llm: LLM, scorer: SentenceScorer, settings: Settings,
                 check: SupportCheck | None = None) -> None:
        self.search = search
        self.llm = llm
        self.scorer = scorer
        self.settings = settings
        self.check = check  # the meaning-level check of each (sentence, cited span); None: lexical only

    def condense(self, question: str, history: list[dict]) -> str:
        """A follow-up ("Et combien d'emplois ?") rewritten as a standalone question using the history:
        asked plainly, then once more with a worked example if the first rewrite will not do."""
        if not history:
            return question
        last_user = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
        # a small model sometimes answers, or repeats the previous question without what the follow-up
        # adds ("Et combien rapporte-t-elle ?" rewritten as the question before it): keep only a real
        # question that still asks what is new in the follow-up
        new = content_stems(question) - content_stems(last_user)
        for example in (None, detect_language(question)):
            text = self.llm.short_reply(condense_messages(question, history, example), max_tokens=64).strip()
            text = text.splitlines()[0].strip().strip('"«» ') if text else ""
            if (text.endswith("?") and len(text) <= 4 * len(question) + 200
                    and not (new and not new & content_stems(text))):
                return text
        return f"{last_user} {question}".strip()

    def in_french(self, question: str) -> str:
        """The question in the corpus's language, for retrieval: the multilingual embedder matches an
        English or German question to French text far less well than a French one (and BM25 not at
        all). The original question still goes to the model, which answers in its language."""
        text = self.llm.short_reply(translate_messages(question), max_tokens=64).strip()
        text = text.splitlines()[0].strip().strip('"«» ') if text else ""
        return text if 0 < len(text) <= 3 * len(question) + 50 else question

    @staticmethod
    def fused(found: list[list[Passage]]) -> list[Passage]:
        """Passages found for several wordings of the question, fused by reciprocal rank."""
        by_id = {p.chunk_id: p for passages in found for p in passages}
        ranked = fuse([[(p.chunk_id, p.score) for p in passages] for passages in found])
        return [by_id[chunk_id] for chunk_id, _ in ranked[: len(found[0])]]

    def stream(self, question: str, history: list[dict] | None = None, k: int | None = None) -> Iterator:
        """Yields text pieces as they are generated, then the final Answer."""
        started = time.perf_counter()
        clock = _Clock(started)
        question = clean_question(question, self.settings.max_question_chars)
        history = [m for m in (history or []) if m.get("content")]
        language = detect_language(question)
        standalone = self.condense(question, history)
        clock.lap("condense")
        queries = [standalone]
        passages = self.search(standalone, k)
        if passages and language != "fr" and _has_words(question):
            queries.insert(0, self.in_french(standalone))
            passages = self.fused([self.search(queries[0], k), passages])
        clock.lap("retrieval")
        answer = Answer(question=question, text="", passages=passages, language=language,
                        standalone_question=standalone, timings=clock.timings)
        if not passages or not _has_words(question):  # "🤔🔥🚀" asks nothing the documents could answer
            yield from _abstain(answer, clock)
            return
        parts = excerpts(queries[0], passages, self.scorer, budget=self.settings.excerpt_chars)
        messages = answer_messages(standalone, language, parts)
        clock.lap("excerpts")
        raw, shown = "", 0
        gate = StartGate(ABSTAIN_TOKEN, self.settings.abstain_min_p) if self.settings.abstain_min_p > 0 else None
        with _generation(self.llm.stream(messages, self.settings.max_answer_tokens, gate)) as pieces:
            for count, piece in enumerate(pieces):
                clock.mark("first_token")
                # a sentence ended ("1." of "1.5" does not: no space follows, nor a marker [n]); _generation() ends it now
                if (_ends_sentence(raw) and piece[:1].isspace() and not piece.lstrip().startswith("[")
                        and (gate is not None and gate.refused and count >= DOUBTED_TOKENS or _repeats(raw))):
                    break
                raw += piece
                head = raw.lstrip()
                if head.startswith(ABSTAIN_TOKEN) or ABSTAIN_TOKEN.startswith(head):
                    continue  # (maybe) the abstention token: never shown, replaced by the sentence below
                yield raw[shown:]
                shown = len(raw)
        clock.mark("first_token")
        clock.lap("generation", since="first_token")
        verifier = Verifier(" ".join(dict.fromkeys([standalone, *queries])), parts, self.scorer)
        drafts = split_answer(raw.replace(ABSTAIN_TOKEN, ""))
        sentences = _unique(verifier.check(drafts)) if drafts else []
        answer.removed_citations = verifier.removed
        if gate is not None and gate.refused and raw.lstrip().startswith(ABSTAIN_TOKEN):
            gate.refused = False  # it spelt the refused start another way: an abstention after all
        doubted = gate is not None and gate.refused
        if gate is not None:
            answer.abstain_p, answer.abstain_refused = gate.p, gate.refused
        if doubted:
            _states_something(sentences, standalone)
        _figure_of_another(standalone, sentences, {c.n: c.text for c in verifier.citations})
        _in_the_question_language(language, sentences)
        clock.lap("verify")
        # before the meaning check too: an answer that gives nothing asked for costs no judge call
        # (the check only takes support away, so the verdict after it is the same)
        _gives_what_is_asked(question, sentences)
        if self.check is not None:
            self._check_meaning(standalone, sentences, verifier, strict=doubted)
            clock.lap("meaning_check")
        _gives_what_is_asked(question, sentences)
        # a question that tries to override the rules ("ignore tes instructions et …") gets an answer
        # only if every sentence of it is supported by the documents
        takeover = is_instruction(question)
        answer.sentences = sentences  # those that failed are kept for the record: what the model tried to say
        if _no_answer(raw, sentences, standalone) or (takeover and not all(s.supported for s in sentences)):
            dispute = None if takeover else self._dispute(queries[0], standalone, parts, verifier, k)
            if dispute is None:
                yield from _abstain(answer, clock)
                return
            answer.conflicts = [dispute]
        else:
            answer.conflicts = _conflicts(sentences, verifier, queries[0], parts, self.scorer,
                                          more=self._elsewhere(k), confirm=self._confirms(queries[0]))
        answer.rival_passages = len(verifier.parts) - len(parts)
        answer.passages = [e.passage for e in verifier.parts]
        answer.citations = verifier.citations
        answer.text = render_text(answer)
        clock.lap("conflicts")
        clock.total()
        yield answer

    def _check_meaning(self, question: str, sentences: list[Sentence], verifier: Verifier, strict: bool = False) -> None:
        """A sentence that passed the lexical rule is asked to the model once: does the span it cites
        say it? (a figure given to the wrong thing, an attribute filled in, a poem). One that fails is
        marked unsupported: kept on the Answer for the record, never shown as the answer. strict: no
        leniency for a sentence in another language than its span (the model doubted its answer)."""
        spans = {c.n: c.text for c in verifier.citations}
        for s in sentences:
            if not s.supported or not s.citations:
                continue
            verdict = self.check.verdict(question, s.text, " … ".join(spans[n] for n in s.citations), strict=strict)
            if not verdict.supported:
                s.supported, s.reason = False, verdict.reason

    def _dispute(self, question: str, asked: str, parts: list[Excerpt], verifier: Verifier,
                 k: int | None) -> Disagreement | None:
        """When nothing the model said holds: the sources' dispute over just the figure asked for, each
        figure cited, as the answer (the model, given 17, 14 and 20 %, gives the Nasdaq's 3,5 %).
        `asked`: the question as asked, when `question` is the search's French wording. A source not
        shown that states another figure of it joins: each disputed sentence is searched for on its
        own, as a claim is for a note (_elsewhere)."""
        dispute = disputed(question, parts, (asked,))
        if dispute is None:
            return None
        search = self._elsewhere(k)
        for figure in dispute[1]:
            verifier.widen(search(figure.span.text), lambda spans: self.scorer.score(question, spans))
        wider = disputed(question, verifier.parts, (asked,))
        if wider is not None and wider[0] == dispute[0] and len(wider[1]) > len(dispute[1]):
            dispute = wider
        return _disagreement(*dispute, verifier)

    def _elsewhere(self, k: int | None) -> Callable[[str], list[Passage]]:
        """A search for a claim that returns the two best passages of each source among three times k:
        the source that disputes a figure is rarely among the first k, which the claim's own source
        fills ("465 milliards" found 589 and 600 at ranks 5-9 behind four passages of the articles that
        say 465); and a source's best passage is often one already shown, its second the one that
        disputes (an English chip count: 002's 10 000 chips came second to a 002 passage shown)."""
        def search(claim: str) -> list[Passage]:
            found = self.search(claim, 3 * (k or self.settings.top_k))
            best: dict[str, list[Passage]] = {}
            for p in found:
                if len(mine := best.setdefault(p.source, [])) < 2:
                    mine.append(p)
            return [p for ps in best.values() for p in ps]
        return search

    def _confirms(self, question: str) -> Callable[[str, str], bool] | None:
        """The judge, asked whether a rival sentence says the answer's claim with its own figure."""
        if self.check is None:
            return None
        judge = self.check.judge

        def confirm(claim: str, text: str) -> bool:
            p = judge.probability(question, claim, text)
            return p is not None and p >= RIVAL_P
        return confirm

    def ask(self, question: str, history: list[dict] | None = None, k: int | None = None) -> Answer:
        result = None
        for item in self.stream(question, history, k):
            result = item
        return result


class _Clock:
    """Stage timings in seconds: lap(stage) records the time since the previous lap."""

    def __init__(self, started: float) -> None:
        self.started = self.last = started
        self.timings: dict[str, float] = {}

    def lap(self, stage: str, since: str | None = None) -> None:
        now = time.perf_counter()
        origin = self.started + self.timings[since] if since else self.last
        self.timings[stage] = now - origin
        self.last = now

    def mark(self, name: str) -> None:
        """A point in time since the start (first_token), set once."""
        self.timings.setdefault(name, time.perf_counter() - self.started)

    def total(self) -> None:
        self.timings["total"] = time.perf_counter() - self.started


def _has_words(text: str) -> bool:
    return bool(re.search(r"[^\W\d_]{2,}", text))


@contextmanager
def _generation(pieces: Iterator[str]):
    """A reply being generated, stopped when left early (a backend's generator holds the model)."""
    try:
        yield pieces
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def _ends_sentence(text: str) -> bool:
    return bool(re.search(r"[.!?…](?:\s*\[\d+\])*\s*$", text))


def _repeats(raw: str) -> bool:
    """The sentence just written says one of the earlier ones again: a small model that starts to
    repeat itself goes on until max_answer_tokens (17 s of generation on followup-03 of the eval), and
    the repeats are dropped from the answer anyway (_unique)."""
    drafts = split_answer(raw.replace(ABSTAIN_TOKEN, ""))
    return len(drafts) >= 2 and fold(drafts[-1].text) in {fold(d.text) for d in drafts[:-1]}


def _states_something(sentences: list[Sentence], question: str) -> None:
    """In an answer the model would rather not have given (its "the documents don't say" refused as
    too unsure), a sentence counts only if it states a figure or a name the question does not: the
    model, made to answer, otherwise pastes a passage about the topic ("DeepSeek est un modèle
    chinois…" for the address of its headquarters)."""
    for s in sentences:
        if s.supported and not any(claims(s.text, question)):
            s.supported = False
            s.reason = "states no figure or name, and the model first said the documents don't say"


def _gives_what_is_asked(question: str, sentences: list[Sentence]) -> None:
    """Asked for a figure or a name (rag.asks.unanswered), an answer that gives none answers something
    else, however true: its sentences are not an answer (kept for the record, with why)."""
    supported = [s for s in sentences if s.supported]
    missing = unanswered(question, [s.text for s in supported])
    for s in supported if missing else []:
        s.supported = False
        s.reason = f"gives no {missing}, which the question asks for"


def _figure_of_another(question: str, sentences: list[Sentence], cited: dict[int, str]) -> None:
    """Asked for a figure of Nvidia, a sentence that gives a figure and names only others (DeepSeek's
    200 engineers for Nvidia's employees); asked for last year's, one that gives this year's ("Meta
    plans to spend 65 billion dollars on AI this year", or with no time where the span it cites says
    "cette année"): however true, each answers another question, and is never the answer. `cited`:
    the text of each citation, by number."""
    for s in sentences:
        if not s.supported:
            continue
        if others := someone_else(question, s.text):
            s.reason = f"gives a figure of {', '.join(dict.fromkeys(others))}, not of whom the question asks about"
        elif when := another_time(question, s.text, " ".join(cited.get(n, "") for n in s.citations)):
            s.reason = f"gives a figure for {when}, not for the time the question asks about"
        else:
            continue
        s.supported = False


_QUOTED_PASSAGE = re.compile(r"[«“\"]\s*([^«»“”\"]{12,})")


def _in_the_question_language(language: str, sentences: list[Sentence]) -> None:
    """A sentence clearly in another language than the question's is a passage pasted, not an answer
    (an English question answered "Liang Wenfeng, reconnu pour son expertise…"): never shown as one;
    nor one that quotes the passage in it ('…which states "TikTok fait vivre 8 millions de PMEs aux
    USA…'). A short quotation (« moment Spoutnik ») is not clearly in any language."""
    for s in sentences:
        if not s.supported:
            continue
        written = clearly_in(s.text)
        quoted = [w for m in _QUOTED_PASSAGE.finditer(s.text) if (w := clearly_in(m.group(1))) not in (None, language)]
        if written is not None and written != language:
            s.supported = False
            s.reason = f"written in {LANGUAGE_NAME[written]}, not in the question's {LANGUAGE_NAME[language]}"
        elif quoted:
            s.supported = False
            s.reason = f"quotes the passage in {LANGUAGE_NAME[quoted[0]]}, not in the question's {LANGUAGE_NAME[language]}"


def _unique(sentences: list[Sentence]) -> list[Sentence]:
    """A small model sometimes says the same sentence twice: keep the first."""
    seen, out = set(), []
    for s in sentences:
        key = fold(s.text)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _no_answer(raw: str, sentences: list[Sentence], question: str) -> bool:
    """Abstain when no sentence is supported by the passages (the model answered from its own
    knowledge), or when the model said the documents don't say and cited nothing that holds. A sentence
    saying the documents don't say something answers nothing, however close to a passage it reads,
    unless it also states a figure or a name."""
    answers = [s for s in sentences
               if s.supported and (not _ABSTAIN_PHRASES.search(s.text) or any(claims(s.text, question)))]
    return not answers or (bool(_ABSTAIN_PHRASES.search(raw)) and not any(s.citations for s in answers))


def _conflicts(sentences: list[Sentence], verifier: Verifier, question: str, parts: list[Excerpt],
               scorer: SentenceScorer, more: Callable[[str], list[Passage]] | None = None,
               confirm: Callable[[str, str], bool] | None = None) -> list[Disagreement]:
    """Where the sources give different figures for what the answer states, every figure with its
    own citation, built in code (a small model gives one figure and drops the others). Two ways to
    see it: the sentences that bear most on the question disagree (disagreements), or another source
    makes the cited claim with another figure (rival_figures) — looked for in the shown passages and
    in those a search for the claim itself finds (`more`): the source that disagrees is often not
    among the passages retrieved for the question. `confirm`: the judge, for a rival sentence that is
    only near the claim (rag.disputes.NEAR_CLAIM)."""
    supported = [s for s in sentences if s.supported]
    said = [n for s in supported for n in numbers(s.text)]
    groups: dict[str, list[FigureAt]] = {}
    for quantity, found in disagreements(question, parts):
        if any(same_number(f.number, n) for f in found for n in said):
            groups.setdefault(quantity, []).extend(found)
    asked = counted(question)
    by_n = {c.n: c for c in verifier.citations}
    for sentence in supported:
        mine = numbers(sentence.text)
        subject = subject_of(sentence.text)
        if more is not None and any(not is_trivial(m) for m in mine):
            verifier.widen(more(sentence.text))
            for n in sentence.citations:  # an English claim finds fewer of the French sentences that dispute it
                if detect_language(by_n[n].text) != detect_language(sentence.text):
                    verifier.widen(more(by_n[n].text))
        excerpt_of = {e.n: e for e in verifier.parts}
        for n in sentence.citations:
            c = by_n[n]
            span = Span(c.start, c.end, c.text)
            stated = [f for f in numbers(c.text) if any(same_number(f, m) for m in mine)]
            for quantity, rivals in rival_figures(span, c.source, stated, verifier.spans, verifier.parts, scorer,
                                                  asked, subject, sentence.text, confirm):
                # the cited span's own figure of that quantity only ("14 %" is no side of a dispute in billions)
                own = [FigureAt(f, excerpt_of[c.passage], span) for f in stated
                       if not is_trivial(f) and quantity_of(f, span.text, asked) == quantity]
                groups.setdefault(quantity, []).extend(own + rivals)
    # a sentence the answer cites that states two of the figures gives them to two things ("Là où ChatGPT
    # utilise plus de 16 000 puces Nvidia, DeepSeek n'en a besoin que de 2 000"), or shows both itself
    cited = [numbers(by_n[n].text) for s in supported for n in s.citations]
    out = []
    for quantity, found in groups.items():
        distinct: list[FigureAt] = []
        for f in found:
            if not any(same_number(f.number, g.number) for g in distinct):
                distinct.append(f)
        if any(sum(any(same_number(f.number, h) for h in have) for f in distinct) >= 2 for have in cited):
            continue
        if len(distinct) >= 2 and len({f.excerpt.passage.source for f in distinct}) >= 2:
            out.append(_disagreement(quantity, distinct, verifier))
    return out


def _disagreement(quantity: str, figures: list[FigureAt], verifier: Verifier) -> Disagreement:
    """The note: each figure with its source and a citation of the sentence that states it."""
    return Disagreement(quantity, [Figure(f.number.text, f.excerpt.passage.source, f.excerpt.passage.title,
                                          verifier.cite(f.excerpt.n, f.span.text, [f.number])) for f in figures])


def _abstain(answer: Answer, clock: _Clock) -> Iterator:
    answer.abstained = True
    answer.text = ABSTAIN[answer.language]
    answer.citations = []
    answer.conflicts = []
    clock.mark("first_token")
    clock.total()
    yield answer.text
    yield answer
