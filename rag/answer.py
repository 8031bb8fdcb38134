"""Question -> cited Answer: condense follow-ups, retrieve, prompt, stream, verify, abstain, flag conflicts."""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Iterator

from .cite import Verifier, disagreements, split_answer
from .errors import QuestionError
from .prompt import ABSTAIN_TOKEN, answer_messages, condense_messages, excerpts, is_instruction
from .schema import Answer, Sentence
from .text import detect_language, numbers, same_number

if TYPE_CHECKING:
    from .bot import Bot

ABSTAIN = {"fr": "Les documents ne le disent pas.", "en": "The documents don't say."}
DISAGREE = {"fr": "Les sources divergent :", "en": "The sources disagree:"}
_ABSTAIN_PHRASES = re.compile(
    r"NOT_IN_DOCUMENTS|ne (le )?(disent|mentionnent|précisent) pas|ne contiennent pas|"
    r"(don't|do not) (say|mention|contain)|not (mentioned|stated) in", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


def condense(bot: "Bot", question: str, history: list[dict]) -> str:
    """A follow-up ("Et combien d'emplois ?") rewritten as a standalone question using the history."""
    if not history:
        return question
    text = "".join(bot.llm.stream(condense_messages(question, history), max_tokens=64)).strip()
    text = text.splitlines()[0].strip().strip('"«» ') if text else ""
    # a small model sometimes answers or repeats the last reply instead: keep only a real question
    if not text.endswith("?") or len(text) > 4 * len(question) + 200:
        last_user = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
        return f"{last_user} {question}".strip()
    return text


def stream(bot: "Bot", question: str, history: list[dict] | None = None, k: int | None = None) -> Iterator:
    """Yields text pieces as they are generated, then the final Answer."""
    started = time.perf_counter()
    question = clean_question(question, bot.settings.max_question_chars)
    history = [m for m in (history or []) if m.get("content")]
    language = detect_language(question)
    standalone = condense(bot, question, history)
    passages = bot.search(standalone, k=k)
    timings = {"retrieval": time.perf_counter() - started}
    answer = Answer(question=question, text="", passages=passages, language=language, standalone_question=standalone)
    if not passages:
        yield from _abstain(answer, started, timings)
        return
    scorer = bot.scorer
    parts = excerpts(standalone, passages, scorer, budget=bot.settings.excerpt_chars)
    messages = answer_messages(standalone, language, parts)
    raw, shown = "", 0
    for piece in bot.llm.stream(messages, bot.settings.max_answer_tokens):
        timings.setdefault("first_token", time.perf_counter() - started)
        raw += piece
        head = raw.lstrip()
        if head.startswith(ABSTAIN_TOKEN) or ABSTAIN_TOKEN.startswith(head):
            continue  # (maybe) the abstention token: never shown, replaced by the sentence below
        yield raw[shown:]
        shown = len(raw)
    verifier = Verifier(standalone, parts, scorer)
    drafts = split_answer(raw.replace(ABSTAIN_TOKEN, ""))
    sentences = verifier.check(drafts) if drafts else []
    answer.removed_citations = verifier.removed
    # a question that tries to override the rules ("ignore tes instructions et …") gets an answer only
    # if every sentence of it is supported by the documents
    takeover = is_instruction(question)
    if _no_answer(raw, sentences) or (takeover and not all(s.supported for s in sentences)):
        answer.sentences = sentences  # kept for the record: what the model tried to say
        yield from _abstain(answer, started, timings)
        return
    _add_conflicts(answer, sentences, verifier, standalone, parts, language)
    answer.sentences = sentences
    answer.citations = verifier.citations
    answer.text = " ".join(_render(s) for s in sentences)
    timings["total"] = time.perf_counter() - started
    answer.timings = timings
    yield answer


def _no_answer(raw: str, sentences: list[Sentence]) -> bool:
    """Abstain when no sentence is supported by the passages (the model answered from its own
    knowledge), or when the model said the documents don't say and cited nothing that holds."""
    supported = [s for s in sentences if s.supported]
    return not supported or (bool(_ABSTAIN_PHRASES.search(raw)) and not any(s.citations for s in supported))


def _render(sentence: Sentence) -> str:
    marks = "".join(f"[{n}]" for n in sentence.citations)
    body = sentence.text
    if marks and body[-1:] in ".!?":
        return f"{body[:-1]} {marks}{body[-1]}"
    return f"{body} {marks}".strip()


def _add_conflicts(answer: Answer, sentences: list[Sentence], verifier: Verifier, question: str, parts, language) -> None:
    said = [n for s in sentences for n in numbers(s.text)]
    for figures in disagreements(question, parts):
        if not any(same_number(f.number, n) for f in figures for n in said):
            continue
        pieces, cited = [], []
        for f in figures:
            n = verifier.cite(f.excerpt.n, f.span.text, [f.number])
            cited.append(n)
            pieces.append(f"{f.number.text} ({_short(f.excerpt.passage.title)}) [{n}]")
        note = f"{DISAGREE[language]} " + " ; ".join(pieces) + "."
        answer.conflicts.append(note)
        sentences.append(Sentence(note, [], True))  # citations are inline in the note


def _short(title: str, limit: int = 40) -> str:
    return title if len(title) <= limit else title[:limit].rsplit(" ", 1)[0] + "…"


def _abstain(answer: Answer, started: float, timings: dict) -> Iterator:
    answer.abstained = True
    answer.text = ABSTAIN[answer.language]
    answer.citations = []
    timings.setdefault("first_token", time.perf_counter() - started)
    timings["total"] = time.perf_counter() - started
    answer.timings = timings
    yield answer.text
    yield answer


def answer(bot: "Bot", question: str, history: list[dict] | None = None, k: int | None = None) -> Answer:
    result = None
    for item in stream(bot, question, history, k):
        result = item
    return result
