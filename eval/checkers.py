"""Does a cited span support the sentence that cites it? Three pluggable checkers.

    checker.supports(sentence, passage_text, question="") -> (bool, reason)

* DeterministicChecker (default, no model): every non-trivial number (read the French and the English
  way: "465 billion" = "465 milliards", "10,000" = "10 000"), every proper name not taken from the
  question, and every « quoted » / "quoted" piece of text of the sentence must occur in the cited text.
  It reuses rag.claims.claims / missing_claims, the same rules the pipeline applies, plus a quote check.
  It cannot see a paraphrase that changes the meaning without changing a figure, a name or a quote
  (negation, "rose" for "fell", a wrong cause, a wrong subject for a right figure): see eval/README.md.
* LLMJudgeChecker: asks the configured backend (bot.llm.stream) "Does the passage support the
  sentence?" and reads yes/no. Slower, sees meaning, but is itself a small model that can be wrong;
  its figures are reported in separate columns.
* SemanticChecker: the deterministic rule, then, when it passes, the meaning-level judge of
  rag.support (P(supported) read from the model's next-token probabilities, one call, no generation),
  flagged below rag.support.THRESHOLD. Needs a backend with probabilities (llama.cpp).
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Protocol

from rag.claims import claims, missing_claims
from rag.support import THRESHOLD, SupportJudge
from rag.text import fold, strip_markers

# « … », “ … ”, " … " (straight double quotes); at least 3 characters inside
_QUOTED = re.compile(r"«\s*([^»]{3,}?)\s*»|“([^”]{3,}?)”|\"([^\"]{3,}?)\"")


class Checker(Protocol):
    name: str

    def supports(self, sentence: str, passage_text: str, question: str = "") -> tuple[bool, str]: ...


def quotes(sentence: str) -> list[str]:
    """The quoted pieces of a sentence, without their quote marks."""
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(sentence)]


def _squash(text: str) -> str:
    """fold() plus punctuation-insensitive spacing, for comparing quotes."""
    return re.sub(r"[\s\"«»“”.,;:!?…]+", " ", fold(text)).strip()


def _near_name(name: str, text: str, ratio: float = 0.85) -> bool:
    """Every word of the name is close (difflib ratio) to some word of the text, same first letter."""
    words = set(re.findall(r"\w+", fold(text)))
    for part in re.findall(r"\w+", fold(name)):
        if len(part) < 4 or not any(
            w[0] == part[0] and SequenceMatcher(None, part, w).ratio() >= ratio for w in words
        ):
            return False
    return True


class DeterministicChecker:
    name = "deterministic"

    def supports(self, sentence: str, passage_text: str, question: str = "") -> tuple[bool, str]:
        sentence = strip_markers(sentence)
        nums, names = claims(sentence, question)
        missing = missing_claims(nums, names, passage_text)
        # a name spelt another way (Sputnik / Spoutnik, Pekin / Pékin) is not a wrong name
        missing = [m for m in missing if m not in names or not _near_name(m, passage_text)]
        passage = _squash(passage_text)
        for quoted in quotes(sentence):
            if _squash(quoted) not in passage:
                missing.append(f"« {quoted} »")
        if missing:
            return False, "not in the cited text: " + ", ".join(missing)
        if not (nums or names or quotes(sentence)):
            return True, "nothing checkable (no number, name or quote)"
        return True, ""


JUDGE_SYSTEM = (
    "You check citations. You are given a passage and a sentence. Answer 'yes' if the passage states "
    "what the sentence says (same figures, names and meaning; the languages may differ), otherwise 'no'. "
    "Reply with one word: yes or no."
)


class LLMJudgeChecker:
    """Yes/no judgement by the bot's own LLM backend (any object with stream(messages, max_tokens))."""

    name = "llm"

    def __init__(self, llm, max_tokens: int = 4) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    @staticmethod
    def messages(sentence: str, passage_text: str, question: str = "") -> list[dict[str, str]]:
        context = f"Question asked: {question}\n" if question else ""
        user = (
            f"{context}Passage:\n{passage_text.strip()}\n\nSentence:\n{strip_markers(sentence).strip()}\n\n"
            "Does the passage support the sentence? Answer yes or no."
        )
        return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]

    @staticmethod
    def verdict(reply: str) -> bool | None:
        word = re.findall(r"[a-zA-Z]+", fold(reply))
        if not word:
            return None
        if word[0] in ("yes", "oui", "true"):
            return True
        if word[0] in ("no", "non", "false"):
            return False
        return None

    def supports(self, sentence: str, passage_text: str, question: str = "") -> tuple[bool, str]:
        reply = "".join(self.llm.stream(self.messages(sentence, passage_text, question), self.max_tokens)).strip()
        verdict = self.verdict(reply)
        if verdict is None:
            return False, f"judge gave no yes/no: {reply[:40]!r}"
        return verdict, "" if verdict else f"judge said {reply[:20]!r}"


class SemanticChecker:
    """The deterministic rule first (free), then the support judge on what it lets through."""

    name = "semantic"

    def __init__(self, llm, threshold: float = THRESHOLD) -> None:
        self.lexical = DeterministicChecker()
        self.judge = SupportJudge(llm)
        self.threshold = threshold

    def supports(self, sentence: str, passage_text: str, question: str = "") -> tuple[bool, str]:
        ok, reason = self.lexical.supports(sentence, passage_text, question)
        if not ok:
            return ok, reason
        p = self.judge.probability(question, strip_markers(sentence), passage_text)
        if p is None:
            raise ValueError("the semantic checker needs next-token probabilities: use an embedded (llama.cpp) LLM")
        if p < self.threshold:
            return False, f"judge: the cited text does not say it (P(supported) = {p:.2f})"
        return True, reason


def make_checker(name: str, bot=None) -> Checker:
    if name == "deterministic":
        return DeterministicChecker()
    if name == "llm":
        if bot is None:
            raise ValueError("the LLM judge needs a bot (its llm backend)")
        return LLMJudgeChecker(bot.llm)
    if name == "semantic":
        if bot is None:
            raise ValueError("the semantic checker needs a bot (its llm backend)")
        return SemanticChecker(bot.llm)
    raise ValueError(f"unknown checker {name!r}: use 'deterministic', 'llm' or 'semantic'")
