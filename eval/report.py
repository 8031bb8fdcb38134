"""Eval report: <out>/results.json (per item), <out>/report.md, <out>/report.html (self-contained:
plots embedded as base64 PNG; the same PNGs are written next to report.md)."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (key in the summary, column title); latency is added separately
COLUMNS = [
    ("n", "n"),
    ("crashed", "crashed"),
    ("ok", "ok"),
    ("retrieval_hit", "hit@k"),
    ("correctness", "correct"),
    ("citation_precision", "cit. precision"),
    ("citation_recall", "cit. recall"),
    ("abstention_accuracy", "abstain acc."),
    ("false_abstention", "false abstain"),
    ("conflict_all_figures", "conflict: all figures"),
    ("conflict_flagged", "conflict: flagged"),
    ("language_match", "language"),
]
JUDGE_COLUMNS = [("judge_precision", "LLM-judge precision"), ("judge_recall", "LLM-judge recall")]
PLOTTED = [
    ("retrieval_hit", "retrieval hit@k"),
    ("correctness", "correctness"),
    ("citation_precision", "citation precision"),
    ("citation_recall", "citation recall"),
    ("abstention_accuracy", "abstention accuracy"),
    ("conflict_surfaced", "conflict surfaced"),
    ("language_match", "language match"),
]


def _fmt(value, key: str = "") -> str:
    if value is None:
        return "–"
    if key in ("n", "crashed"):
        return str(value)
    if isinstance(value, float):
        return f"{100 * value:.0f}%"
    return str(value)


def _sec(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def table_rows(agg: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table: one row per kind, then 'all', then one per split."""
    columns = list(COLUMNS)
    if "judge_precision" in agg["all"]:
        columns += JUDGE_COLUMNS
    header = ["kind"] + [title for _, title in columns] + ["first token p50/p95 s", "total mean/p50/p95 s"]
    rows = []
    splits = [(f"split: {name}", summary) for name, summary in agg.get("by_split", {}).items()]
    for kind, s in list(agg["by_kind"].items()) + [("all", agg["all"])] + splits:
        ft, tt = s["first_token"], s["total"]
        rows.append(
            [kind]
            + [_fmt(s.get(key), key) for key, _ in columns]
            + [f"{_sec(ft['p50'])} / {_sec(ft['p95'])}", f"{_sec(tt['mean'])} / {_sec(tt['p50'])} / {_sec(tt['p95'])}"]
        )
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(agg: dict) -> str:
    return markdown_table(*table_rows(agg))


# ---- plots -------------------------------------------------------------------------------------
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_kinds(agg: dict) -> bytes:
    kinds = list(agg["by_kind"]) + ["all"]
    summaries = [agg["by_kind"][k] for k in kinds[:-1]] + [agg["all"]]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / len(PLOTTED)
    for j, (key, label) in enumerate(PLOTTED):
        xs, ys = [], []
        for i, s in enumerate(summaries):
            if s.get(key) is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(100 * s[key])
        ax.bar(xs, ys, width, label=label, color=f"C{j}")
    ax.set_xticks(range(len(kinds)), [f"{k}\n(n={s['n']})" for k, s in zip(kinds, summaries)])
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title("Metrics per kind (bars absent where a metric does not apply)")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_latency(items: list[dict]) -> bytes:
    first = [i["metrics"]["first_token"] for i in items if i["metrics"].get("first_token") is not None]
    total = [i["metrics"]["total"] for i in items if i["metrics"].get("total") is not None]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if total or first:
        top = max(total + first)
        bins = [top * b / 20 for b in range(21)] if top > 0 else 10
        if first:
            ax.hist(first, bins=bins, alpha=0.6, label=f"first token (n={len(first)})")
        if total:
            ax.hist(total, bins=bins, alpha=0.6, label=f"total (n={len(total)})")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no timings (retrieval-only run)", ha="center", va="center", transform=ax.transAxes)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("seconds per question")
    ax.set_ylabel("items")
    ax.set_title("Latency")
    return _png(fig)


# ---- item details ------------------------------------------------------------------------------
def _item_row(item: dict) -> list[str]:
    m = item["metrics"]
    return [
        item["id"], item["kind"], "CRASH" if m.get("crashed") else "ok" if m["ok"] else "FAIL",
        _fmt(m.get("retrieval_hit")), _fmt(m.get("correct")),
        _fmt(m.get("citation_precision")), _fmt(m.get("citation_recall")),
        "yes" if m.get("abstained") else "no", m.get("language") or "?", _sec(m.get("total")),
    ]


ITEM_HEADER = ["id", "kind", "verdict", "hit", "correct", "cit. prec.", "cit. rec.", "abstained", "lang", "total s"]


def _failing(items: list[dict]) -> list[dict]:
    return [i for i in items if not i["metrics"]["ok"]]


def _failure_fields(item: dict) -> list[tuple[str, str | list[str]]]:
    """What a failing item's report shows: (label, text or list of lines), in order."""
    m, a = item["metrics"], item["answer"]
    fields: list[tuple[str, str | list[str]]] = [("Question", item["question"])]
    if item.get("history"):
        fields.append(("History", [f"{t['role']}: {t['content']}" for t in item["history"]]))
    if a.get("standalone_question") and a["standalone_question"] != item["question"]:
        fields.append(("Standalone question", a["standalone_question"]))
    expected = item.get("answers_all") or item.get("answers")
    fields.append(("Expected", str(expected) if expected else "abstention"))
    fields.append(("Answer", a["text"]))
    if a.get("abstain_p") is not None:
        fields.append(("P(the documents don't say)", f"{a['abstain_p']:.2f}"
                       + (" (refused as too unsure: it answered)" if a.get("abstain_refused") else "")))
    if a.get("abstained") and a.get("sentences"):
        fields.append(("Draft before abstaining", " ".join(x["text"] for x in a["sentences"])))
    if a["citations"]:
        fields.append(("Citations", [f"[{c['n']}] {c['source']}:{c['start']}-{c['end']}: {c['text']}" for c in a["citations"]]))
    elif a.get("passages"):
        fields.append(("Retrieved passages", ", ".join(f"{p['source']}:{p['start']}-{p['end']}" for p in a["passages"])))
    fields.append(("Why it failed", "; ".join(m["reasons"])))
    if m["issues"]:
        fields.append(("Other issues", m["issues"]))
    return fields


def _failure_md(item: dict) -> str:
    out = [f"### {item['id']} ({item['kind']}, {item['lang']})", ""]
    for label, value in _failure_fields(item):
        if isinstance(value, list):
            out += [f"- **{label}:**"] + [f"  - {line}" for line in value]
        else:
            out.append(f"- **{label}:** {value}")
    return "\n".join(out) + "\n"


def _failure_html(item: dict) -> str:
    e = html.escape
    parts = [f"<h3>{e(item['id'])} ({e(item['kind'])}, {e(item['lang'])})</h3><dl>"]
    for label, value in _failure_fields(item):
        css = " class='bad'" if label == "Why it failed" else ""
        body = "<ul>" + "".join(f"<li>{e(line)}</li>" for line in value) + "</ul>" if isinstance(value, list) else e(value)
        parts.append(f"<dt>{e(label)}</dt><dd{css}>{body}</dd>")
    return "".join(parts) + "</dl>"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'bad' if c in ('FAIL', 'CRASH') else ''}'>{e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f2f2f2}.bad{color:#b00020;font-weight:600}.good{color:#1b7f2a;font-weight:600}
dt{font-weight:600;margin-top:.4em}dd{margin-left:1.5em}code{font-size:12px}img{max-width:100%}"""


def write(out: Path, payload: dict) -> dict[str, Path]:
    """Write results.json, report.md, report.html and the two PNGs; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    agg, items, cfg = payload["summary"], payload["items"], payload["config"]
    crashes = payload.get("crashes", [])
    failures = payload.get("threshold_failures", []) + [f"crashed: {line}" for line in crashes]
    paths = {
        "results": out / "results.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
        "kinds_png": out / "metrics_by_kind.png",
        "latency_png": out / "latency.png",
    }
    paths["results"].write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    kinds_png, latency_png = plot_kinds(agg), plot_latency(items)
    paths["kinds_png"].write_bytes(kinds_png)
    paths["latency_png"].write_bytes(latency_png)

    header, rows = table_rows(agg)
    item_rows = [_item_row(i) for i in items]
    failing = _failing(items)
    verdict = "PASSED" if not failures else "FAILED"
    config_line = ", ".join(f"{k}={v}" for k, v in cfg.items())
    thresholds = ", ".join(f"{k}={v}" for k, v in payload.get("thresholds", {}).items())

    md = [
        "# Faithfulness eval", "",
        f"Configuration: {config_line}", "",
        f"Thresholds ({verdict}): {thresholds}", "",
    ]
    md += [f"- FAILED: {f}" for f in failures]
    md += ["", "## Summary", "", markdown_table(header, rows), "",
           "Citation precision/recall use the deterministic checker (numbers, proper names and quotes of a "
           "sentence must occur in the span it cites); LLM-judge columns, when present, are a separate "
           "yes/no judgement by the configured model.", "",
           "![metrics by kind](metrics_by_kind.png)", "", "![latency](latency.png)", "",
           f"## Failing items ({len(failing)} of {len(items)})", ""]
    md += [_failure_md(i) for i in failing] or ["None.", ""]
    md += ["## Every item", "", markdown_table(ITEM_HEADER, item_rows), ""]
    paths["markdown"].write_text("\n".join(md), encoding="utf-8")

    e = html.escape
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    page = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Faithfulness eval</title>",
        f"<style>{CSS}</style></head><body><h1>Faithfulness eval</h1>",
        f"<p>Configuration: {e(config_line)}</p>",
        f"<p>Thresholds (<span class='{'good' if not failures else 'bad'}'>{verdict}</span>): {e(thresholds)}</p>",
    ]
    if failures:
        page.append("<ul>" + "".join(f"<li class='bad'>{e(f)}</li>" for f in failures) + "</ul>")
    page += [
        "<h2>Summary</h2>", _html_table(header, rows),
        f"<img alt='metrics by kind' src='data:image/png;base64,{b64(kinds_png)}'>",
        f"<img alt='latency' src='data:image/png;base64,{b64(latency_png)}'>",
        f"<h2>Failing items ({len(failing)} of {len(items)})</h2>",
    ]
    page += [_failure_html(i) for i in failing] or ["<p>None.</p>"]
    page += ["<h2>Every item</h2>", _html_table(ITEM_HEADER, item_rows), "</body></html>"]
    paths["html"].write_text("\n".join(page), encoding="utf-8")
    return paths
