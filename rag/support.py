"""Does the cited span say what the answer sentence says? A yes/no question to the loaded model, whose
answer is read from its next-token probabilities (no generation):

    SupportJudge(llm).probability(question, sentence, span_text) -> P(supported), 0..1

One model call per (sentence, span). The instructions and the worked examples come first and never
change, so llama.cpp keeps them in its KV cache; then the question and the span, shared by the
sentences of one answer that cite the same span; the sentence last. The examples are made up (a town
and a company that do not exist), never taken from the corpus or the eval data.
"""
from __future__ import annotations

from dataclasses import dataclass

from .cite import claims, missing_claims
from .llms import LLM


@dataclass(frozen=True)
class Example:
    question: str
    span: str
    sentence: str
    supported: bool


@dataclass(frozen=True)
class JudgePrompt:
    system: str
    examples: tuple[Example, ...]
    yes: str
    no: str
    template: str = "Question : {question}\nExtrait : {span}\nPhrase : {sentence}"

    def messages(self, question: str, sentence: str, span: str) -> list[dict[str, str]]:
        turns = [{"role": "system", "content": self.system}]
        for e in self.examples:
            turns.append({"role": "user", "content": self.template.format(question=e.question, span=e.span, sentence=e.sentence)})
            turns.append({"role": "assistant", "content": self.yes if e.supported else self.no})
        turns.append({"role": "user", "content": self.template.format(question=question, span=span, sentence=sentence)})
        return turns


EXAMPLES = (
    Example("Combien d'habitants compte Valmont ?",
            "Valmont, petite ville du Jura, compte 4 200 habitants et une seule boulangerie.",
            "Valmont compte 4 200 habitants.", True),
    Example("Quel est le salaire du maire de Valmont ?",
            "Le maire de Valmont, Paul Girard, a inauguré une piscine de 3 millions d'euros.",
            "Le maire de Valmont gagne 3 millions d'euros.", False),
    Example("Who founded Orbix?",
            "Fondée en 2015 par Clara Meyer, la société Orbix fabrique des drones agricoles.",
            "Orbix was founded by Clara Meyer in 2015.", True),
    Example("De combien l'indice Tekno a-t-il baissé ?",
            "L'action Orbix a chuté de 12 % mardi, entraînant l'indice Tekno, en baisse de 2 %.",
            "L'indice Tekno a baissé de 12 %.", False),
    Example("Comment ont évolué les ventes de vélos ?",
            "À Valmont, les ventes de vélos ont reculé de 8 % en 2021, selon la mairie.",
            "Les ventes de vélos ont progressé de 8 % en 2021.", False),
    Example("How much did Orbix lose on Tuesday?",
            "L'action Orbix a chuté de 12 % mardi, entraînant l'indice Tekno, en baisse de 2 %.",
            "Orbix shares fell 12% on Tuesday.", True),
    Example("Écris un poème sur la mer.",
            "Valmont, petite ville du Jura, compte 4 200 habitants et une seule boulangerie.",
            "La mer chante doucement sous la lune.", False),
    Example("Qui a fondé Orbix ?",
            "Fondée en 2015 par Clara Meyer, la société Orbix fabrique des drones agricoles.",
            "Clara Meyer a fondé Orbix avec Clara Meyer.", False),
    Example("Combien Orbix a-t-elle levé ?",
            "En mars, Orbix a levé 20 millions d'euros auprès de fonds européens.",
            "Orbix a levé 20 millions d'euros pour s'implanter aux États-Unis.", False),
    Example("Auprès de qui Orbix a-t-elle levé des fonds ?",
            "En mars, Orbix a levé 20 millions d'euros auprès de fonds européens.",
            "Des fonds européens ont apporté 20 millions d'euros à Orbix.", True),
)

PROMPT = JudgePrompt(
    system=(
        "Tu vérifies une phrase de réponse contre l'extrait qu'elle cite. Réponds OUI seulement si "
        "l'extrait affirme tout ce que dit la phrase : mêmes chiffres pour les mêmes choses, même sens, "
        "rien d'ajouté, et la phrase répond à la question avec ce que dit l'extrait. Sinon réponds NON. "
        "La phrase peut être en anglais et l'extrait en français. Réponds par un seul mot : OUI ou NON."
    ),
    examples=EXAMPLES,
    yes="OUI",
    no="NON",
)


class SupportJudge:
    def __init__(self, llm: LLM, prompt: JudgePrompt = PROMPT) -> None:
        self.llm = llm
        self.prompt = prompt

    def probability(self, question: str, sentence: str, span_text: str) -> float | None:
        """P(supported): the model's 'yes' against its 'no', the rest of the vocabulary left out; None
        when the backend gives no next-token probabilities (Ollama)."""
        messages = self.prompt.messages(question.strip(), sentence.strip(), span_text.strip())
        probs = self.llm.next_token_probs(messages, [self.prompt.yes, self.prompt.no])
        if probs is None:
            return None
        total = probs[self.prompt.yes] + probs[self.prompt.no]
        return probs[self.prompt.yes] / total if total > 0 else 0.5


# Calibrated on the dev split of eval/support.jsonl (python -m eval.support_eval --split dev): below it
# the judge's P(supported) flags the sentence.
THRESHOLD = 0.5


@dataclass(frozen=True)
class Verdict:
    supported: bool
    reason: str = ""  # why not, for the record and the UI
    probability: float | None = None  # the judge's P(supported); None when it was not asked


class SupportCheck:
    """The full check of one (sentence, cited span): the lexical rule first (free: every number and
    name of the sentence must be in the span), then, only if it passes, the judge (one model call)."""

    def __init__(self, llm: LLM, threshold: float = THRESHOLD, prompt: JudgePrompt = PROMPT) -> None:
        self.judge = SupportJudge(llm, prompt)
        self.threshold = threshold

    def verdict(self, question: str, sentence: str, span_text: str) -> Verdict:
        missing = missing_claims(*claims(sentence, question), span_text)
        if missing:
            return Verdict(False, "not in the cited text: " + ", ".join(missing))
        p = self.judge.probability(question, sentence, span_text)
        if p is None:
            return Verdict(True, "lexical check only: the LLM backend gives no probabilities")
        if p < self.threshold:
            return Verdict(False, f"the cited text does not say it (P(supported) = {p:.2f})", p)
        return Verdict(True, "", p)
