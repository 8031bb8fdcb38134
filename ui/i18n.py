"""The page's words in each language it speaks, and which language a browser asks for.

    lang = pick(request.headers.get("accept-language"))   # "fr" or "en"
    t(lang, "send")                                       # "Envoyer" / "Send"

Answers are not translated here: they follow the question's language (rag.prompt)."""
from __future__ import annotations

DEFAULT = "fr"
NAMES = {"fr": "Français", "en": "English"}

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Questions sur les documents",
        "intro": "# Questions sur les documents\nPosez une question en français (ou en anglais) : les réponses "
                 "viennent uniquement des documents du corpus, avec leurs sources. Tout reste sur cette machine.",
        "conversation": "Conversation",
        "chat_placeholder": "Posez une question sur les documents, ou choisissez un exemple ci-dessous.",
        "question_placeholder": "Votre question… (Entrée pour envoyer)",
        "send": "Envoyer",
        "new_chat": "Nouvelle conversation",
        "examples": "Exemples de questions",
        "sources": "### Sources",
        "settings": "⚙️ Paramètres",
        "top_k": "Nombre de passages donnés au modèle",
        "top_k_info": "Plus de passages : réponses plus complètes mais plus lentes.",
        "llm": "Modèle de langage",
        "reindex": "⟳ Ré-indexer le corpus",
        "reindex_report": "Rapport d'indexation",
        "documents": "📄 Documents",
        "upload": "Ajouter des documents ({types})",
        "remove_choice": "Document à retirer",
        "remove": "Retirer du corpus",
        "documents_report": "Résultat",
        "choose_first": "Choisissez d'abord un document.",
        "cannot_save": "impossible de l'enregistrer ({error})",
        "language": "Langue",
        "empty_question": "Écrivez d'abord une question sur les documents, par exemple « Qui a fondé DeepSeek ? ».",
        "searching": "Recherche dans les documents…",
        "queued": "Le modèle répond à une autre question ; la vôtre passe juste après…",
        "too_busy": "Le serveur est très occupé ({waiting} questions en attente). Réessayez dans une minute : "
                    "votre question est restée dans la zone de saisie.",
        "unexpected": "erreur inattendue : {error}",
        "status_unavailable": "⚠️ état du corpus indisponible : {error}",
        "reading_corpus": "Lecture du corpus…",
        "embedding": "Calcul des embeddings",
        "passages": "passages",
        "characters": "caractères",
        "see_source": "Voir la source {n}",
        "no_answer": "Pas de réponse dans les documents",
        "unverified": "non vérifiée",
        "sources_for": "Sources pour : « {question} »",
        "sources_disagree": "⚖️ Les sources ne sont pas d'accord",
        "compare": "Comparez les passages cités ci-dessous.",
        "dropped_sentences": "⚠️ Phrases écartées de la réponse",
        "dropped_hint": "Le modèle les a écrites, mais les passages cités ne les confirment pas : elles ne font "
                        "pas partie de la réponse.",
        "draft": "Brouillon — vérification dans les sources…",
        "abstain_hint": "Aucun passage retrouvé ne répond à cette question ; le bot préfère ne rien inventer. "
                        "Essayez de reformuler.",
        "no_source": "Aucune source citée.",
        "sources_placeholder": "Les sources de la réponse apparaîtront ici.",
        "older_sources": "Sources des réponses précédentes ({count})",
        "status": "**Documents :** {files} · **Passages indexés :** {chunks} · **Dernière indexation :** {when}  \n"
                  "**Dossier :** {corpus} · **Modèle d'embeddings :** {embedder}",
        "when": "{d}/{m}/{y} à {H}h{M}",
    },
    "en": {
        "title": "Questions about the documents",
        "intro": "# Questions about the documents\nAsk a question in English (or in French): the answers come only "
                 "from the documents of the corpus, with their sources. Everything stays on this machine.",
        "conversation": "Conversation",
        "chat_placeholder": "Ask a question about the documents, or pick an example below.",
        "question_placeholder": "Your question… (Enter to send)",
        "send": "Send",
        "new_chat": "New conversation",
        "examples": "Example questions",
        "sources": "### Sources",
        "settings": "⚙️ Settings",
        "top_k": "Passages given to the model",
        "top_k_info": "More passages: fuller but slower answers.",
        "llm": "Language model",
        "reindex": "⟳ Re-index the corpus",
        "reindex_report": "Indexing report",
        "documents": "📄 Documents",
        "upload": "Add documents ({types})",
        "remove_choice": "Document to remove",
        "remove": "Remove from the corpus",
        "documents_report": "Result",
        "choose_first": "Choose a document first.",
        "cannot_save": "cannot be saved ({error})",
        "language": "Language",
        "empty_question": "First write a question about the documents, for example “Who founded DeepSeek?”.",
        "searching": "Searching the documents…",
        "queued": "The model is answering another question; yours comes right after…",
        "too_busy": "The server is very busy ({waiting} questions waiting). Try again in a minute: "
                    "your question is still in the input box.",
        "unexpected": "unexpected error: {error}",
        "status_unavailable": "⚠️ corpus status unavailable: {error}",
        "reading_corpus": "Reading the corpus…",
        "embedding": "Computing embeddings",
        "passages": "passages",
        "characters": "characters",
        "see_source": "See source {n}",
        "no_answer": "No answer in the documents",
        "unverified": "not verified",
        "sources_for": "Sources for: “{question}”",
        "sources_disagree": "⚖️ The sources disagree",
        "compare": "Compare the passages cited below.",
        "dropped_sentences": "⚠️ Sentences left out of the answer",
        "dropped_hint": "The model wrote them, but the cited passages do not confirm them: they are not part of "
                        "the answer.",
        "draft": "Draft — checking against the sources…",
        "abstain_hint": "No passage found answers this question; the bot would rather not make anything up. "
                        "Try rephrasing it.",
        "no_source": "No source cited.",
        "sources_placeholder": "The sources of the answer will appear here.",
        "older_sources": "Sources of earlier answers ({count})",
        "status": "**Documents:** {files} · **Indexed passages:** {chunks} · **Last indexed:** {when}  \n"
                  "**Folder:** {corpus} · **Embedding model:** {embedder}",
        "when": "{y}-{m}-{d} at {H}:{M}",
    },
}

EXAMPLES = {
    "fr": ["Qui a fondé DeepSeek ?", "Combien Nvidia a-t-elle perdu en une journée ?",
           "Combien a coûté l'entraînement du modèle R1 ?", "Qu'est-ce que le projet Stargate ?", "Who founded DeepSeek?"],
    "en": ["Who founded DeepSeek?", "How much did Nvidia lose in one day?", "How much did training the R1 model cost?",
           "What is the Stargate project?", "Qui a fondé DeepSeek ?"],
}


def t(lang: str, key: str, **values) -> str:
    """The text `key` in `lang` (French when the language is unknown), with its {fields} filled."""
    text = TEXTS.get(lang, TEXTS[DEFAULT])[key]
    return text.format(**values) if values else text


def pick(accept_language: str | None) -> str:
    """The first language the browser lists (Accept-Language or navigator.languages) that the page
    speaks, by preference weight; French when none."""
    ranked = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.split("-")[0].strip().lower()))
    return next((lang for _, _, lang in sorted(ranked) if lang in TEXTS), DEFAULT)
