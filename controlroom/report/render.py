"""Renderers of a built report: JSON (the schema'd data), Markdown (for a wiki), HTML (one self-contained file).

All three show the same facts, including the score's breakdown and weights.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from controlroom.formats import format_clock as clock
from controlroom.formats import sparkline
from controlroom.report.charts import score_svg, series_svg, text_bar
from controlroom.report.model import COMPONENT_TITLES

_STATUS_COLOURS = {"held": "#2ca02c", "failed": "#d62728", "rolled-back": "#ff7f0e", "aborted": "#7f7f7f",
                   "incomplete": "#9467bd", "unobserved": "#7f7f7f"}


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _v(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _stop_words(stop: dict[str, Any]) -> str:
    """An emergency-stop as the room said it: who pressed it, or the rule that rolled back."""
    manual = stop["source"] in ("key", "control", "signal")
    what = f"emergency stop ({stop['source']})" if manual else f"automatic rollback ({stop['source']})"
    by = f" by {stop['by']}" if stop.get("by") else ""
    return f"{what}{by}: {stop['reason']}"


def _md(text: Any) -> str:
    # Table cells: a pipe or newline would break the row.
    return _v(text).replace("|", "\\|").replace("\n", " ")


def hypothesis_verdict(r: dict[str, Any]) -> tuple[bool | None, str]:
    """(validated, one sentence) — the first thing a reader sees, before any score."""
    if r["status"] == "unobserved":
        return None, "No verdict: the scenario was declared unobserved, so nothing judged the system"
    if r["incomplete"] and r["status"] != "incomplete":
        return None, "Hypothesis not judged: damaged journal lines were skipped"
    if r["incomplete"]:
        return None, "Hypothesis not judged: the session is incomplete (it crashed or was killed)"
    if r["hypothesis"]["validated"]:
        return True, "Hypothesis held"
    message = str(r["execution"].get("message") or "")
    if r.get("outcome") == "preflight-failed":
        return False, "Hypothesis NOT validated: pre-flight refused the session, nothing was injected" + (
            f" ({message})" if message else "")
    if r["status"] == "held":
        return False, "Hypothesis NOT validated: a success criterion was not met"
    why = message or {"rolled-back": "the session was rolled back", "aborted": "the session was aborted",
                      "failed": "the hypothesis failed"}.get(r["status"], str(r["status"]))
    return False, f"Hypothesis NOT validated: {why}"


def score_note(r: dict[str, Any]) -> str:
    """Beside a score of a session that did not validate its hypothesis: what the number measures (the report's
    `score.meaning`, docs/report.md)."""
    if r["hypothesis"]["validated"]:
        return ""
    return str(r["score"].get("meaning") or "how well the system coped while faulted; it does not say the "
                                             "hypothesis held")


WORST_HELP = ("worst: the lowest in-fault value of a higher-is-better series (success rate, rps), the highest of "
              "a lower-is-better one (latency); for a series of unknown direction, the value farthest from before")

# Marks that render everywhere, also in a browser without an emoji font (headless Chromium draws the emoji
# check and cross as the same empty box): inline SVG, each with its own shape and colour, and a label.
_MARKS = {
    True: ('<svg class="mark mark-met" viewBox="0 0 16 16" width="16" height="16" role="img" aria-label="met">'
           '<circle cx="8" cy="8" r="8" fill="#1a7f37"/><path d="M4 8.5l2.5 2.5L12 5.5" stroke="#fff" '
           'stroke-width="2" fill="none"/></svg>'),
    False: ('<svg class="mark mark-not-met" viewBox="0 0 16 16" width="16" height="16" role="img" '
            'aria-label="not met"><circle cx="8" cy="8" r="8" fill="#cf222e"/><path d="M5 5l6 6M11 5l-6 6" '
            'stroke="#fff" stroke-width="2" fill="none"/></svg>'),
    None: ('<svg class="mark mark-unknown" viewBox="0 0 16 16" width="16" height="16" role="img" '
           'aria-label="not judged"><circle cx="8" cy="8" r="7" fill="none" stroke="#6e7781" stroke-width="2"/>'
           '<circle cx="8" cy="8" r="2" fill="#6e7781"/></svg>'),
}
# The same in plain text for Markdown: glyphs every monospace font has, and a word.
_MD_MARKS = {True: "✓ met", False: "✗ NOT met", None: "? not judged"}
_MD_VERDICT = {True: "✓", False: "✗", None: "?"}


def _pods(f: dict[str, Any]) -> str:
    """A Kubernetes fault's pods (as the selection journaled them) and its workload's recovery, after the target."""
    pods = f.get("pods") or []
    if not pods:
        return ""
    shown = ", ".join(pods[:5]) + (f" and {len(pods) - 5} more" if len(pods) > 5 else "")
    back = f"; ready again in {f['recovered_s']:g} s" if f.get("recovered_s") is not None else ""
    return f" (pods: {shown}{back})"


def _window(f: dict[str, Any]) -> str:
    w = f.get("window")
    return f"{clock(w[0])} → {clock(w[1])}" if w else "–"


def render_markdown(report: dict[str, Any]) -> str:
    r = report
    e, x = r["experiment"], r["execution"]
    out: list[str] = []
    add = out.append
    add(f"# Game day report: {e['name'] or e['id']}")
    add("")
    if r["incomplete"]:
        add("> **Incomplete**: " + ("the journal ends without session-ended (the session crashed or was killed). "
                                    if r["status"] == "incomplete" else
                                    "damaged journal lines were skipped (see Journal warnings). ")
            + "Figures cover what was recorded.")
        add("")
    hyp = r["hypothesis"]
    ok, said = hypothesis_verdict(r)
    add(f"> **{_MD_VERDICT[ok]} {said}**")
    add("")
    add(f"- **Experiment**: `{e['id']}` · environment {_v(e['environment'])}")
    add(f"- **Status**: **{r['status']}**")
    add(f"- **Hypothesis**: {hyp['statement'] or '–'} — validated: **{_v(hyp['validated'])}**")
    add(f"- **Execution**: {_v(x['started'])} → {_v(x['ended'])} ({_v(x['duration_s'])} s); "
        f"auto-rollback: **{_v(x['auto_rollback'])}**")
    for stop in x["emergency_stops"]:
        add(f"- **Stopped** at {clock(stop['mono'] or 0)}: {_stop_words(stop)}")
    note = score_note(r)
    add(f"- **Resilience score**: **{_v(r['score']['overall'])}** / 100" + (f" — {note}" if note else ""))
    add("")
    add("## Resilience score")
    add("")
    weights = ", ".join(f"{COMPONENT_TITLES[k]} {w:g}" for k, w in r["score"]["weights"].items())
    add(f"Weights: {weights}. A component that cannot be judged is left out and the others are scaled up.")
    add("")
    for t in r["score"]["targets"]:
        add(f"### {t['target']}" + (f" (service {t['service']})" if t["service"] else "") + f": {_v(t['total'])}")
        add("")
        add("| component | score | weight | effective | points | |")
        add("|---|---:|---:|---:|---:|---|")
        for name, c in t["components"].items():
            add(f"| {COMPONENT_TITLES.get(name, name)} | {_v(c['score'])} | {c['weight']:g} | {c['effective_weight']:g} "
                f"| {c['points']:g} | `{text_bar(c['score'], 20)}` |")
        add("")
    add("## Faults")
    add("")
    if r["faults"]:
        add("| fault | type | target | window | verified | status |")
        add("|---|---|---|---|---|---|")
        for f in r["faults"]:
            add(f"| {_md(f['fault'])} | {_md(f['type'])} | {_md(f['target'])}{_md(_pods(f))} | {_window(f)} "
                f"| {_v(f['verified'])} | {_md(f['status'])}{(': ' + _md(f['error'])) if f['error'] else ''} |")
    else:
        add("No fault was injected.")
    add("")
    add("## Observed behaviour")
    add("")
    add("| series | before | during | after | worst | trend |")
    add("|---|---:|---:|---:|---:|---|")
    for s in r["series"]:
        spark = sparkline([p[1] for p in s["points"]], 32, whole=True)
        add(f"| {_md(s['name'])} | {_v(s['before'])} | {_v(s['during'])} | {_v(s['after'])} | {_worst_cell(s)} "
            f"| {'`' + spark + '`' if spark else ''} |")
    add("")
    add(f"_{WORST_HELP}._")
    add("")
    rec = r["recovery"]
    add("## Recovery")
    add("")
    add(f"Criterion: {_v(rec['criterion_s'])} s.")
    for m in rec["measurements"]:
        after = " after the stop" if m.get("after_stop") else ""
        add(f"- {m['step']}{after}: " + (f"{_v(m['seconds'])} s" if m["held"] else "did not recover")
            + f" ({m['source']}{'; ' + m['detail'] if m.get('detail') and not m['held'] else ''})"
            + _outage_note(m))
    add("")
    d = r["degradation"]
    add("## Graceful degradation, cascading failures, blast radius")
    add("")
    add(f"- Graceful degradation: **{_v(d['graceful'])}** ({d['samples_within']} of {d['samples_judged']} in-fault "
        "samples inside the stop thresholds)")
    for c in r["cascading_failures"]:
        add(f"- Cascading failure: {c['detail']}")
    if not r["cascading_failures"]:
        add("- Cascading failures: none found")
    b = r["blast_radius"]
    add(f"- Blast radius: affected {', '.join(b['affected_targets']) or 'none'}; contained **{_v(b['contained'])}**"
        + (f"; unconfirmed: {', '.join(b['unconfirmed'])}" if b["unconfirmed"] else "")
        + (f"; outside the plan: {', '.join(b['outside_plan'])}" if b["outside_plan"] else ""))
    add("")
    add("## Success criteria")
    add("")
    add(f"Met: **{_v(r['success_criteria']['met'])}**")
    add("")
    for c in r["success_criteria"]["criteria"]:
        by = f", {c['by']}" if c.get("by") else ""
        kind = f" (statement{by})" if c.get("kind") == "statement" else ""
        add(f"- **{_MD_MARKS[c['met']]}** {c['name']}{kind}"
            + (f" ({c['criterion']})" if c["criterion"] else "") + (f": {c['detail']}" if c["detail"] else ""))
    add("")
    add("## Insights and recommendations")
    add("")
    for i in r["insights"]:
        add(f"- **{i['severity']}** `{i['id']}`: {i['finding']}  \n  → {i['recommendation']}")
    if not r["insights"]:
        add("Nothing stood out.")
    add("")
    add("## Facilitator's notes")
    add("")
    for n in r["notes"]:
        add(f"- {clock(n['mono'] or 0)} **{n['author'] or 'facilitator'}**: {n['text']}")
    if not r["notes"]:
        add("No notes were taken.")
    if r["journal_warnings"]:
        add("")
        add("## Journal warnings")
        add("")
        for w in r["journal_warnings"]:
            add(f"- {w}")
    add("")
    return _no_html("\n".join(out))


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what can open raw HTML in Markdown: a tag, </, <!--, <?, <!X
_ENTITY_START = re.compile(r"&(?=[A-Za-z#])")


def _no_html(markdown: str) -> str:
    """Markdown passes raw HTML through, and every text here may come from a journal (a note, a scenario
    name): every `<` that could open a tag, comment or autolink, and every `&` that could start an entity,
    becomes an entity, so nothing in the output is markup. `p99_ms < 500` stays readable."""
    return _TAG_START.sub("&lt;", _ENTITY_START.sub("&amp;", markdown))


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:960px;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.banner{background:#f3e8ff;border-left:4px solid #9467bd;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;margin:8px 0;width:100%} th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:.92em}
th{background:#f6f6f6} td.num{text-align:right}
.chart{display:block;margin:4px 0 16px} .plot{fill:#fafafa;stroke:#ccc}
.fault{fill:#ff7f0e;fill-opacity:.18} .line{fill:none;stroke:#1f77b4;stroke-width:1.6} .line-dot{fill:#1f77b4}
.threshold{stroke:#d62728;stroke-dasharray:5 4;stroke-width:1} .marker{stroke-width:1.5;stroke-dasharray:2 2}
.axis{font-size:11px;fill:#555} .bar-bg{fill:#eee}
.sev-critical{color:#b00020;font-weight:600} .sev-warning{color:#a66000;font-weight:600} .sev-info{color:#1f5fa0}
.legend span{display:inline-block;margin-right:14px;font-size:.85em} .sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
.verdict{font-size:1.3em;padding:10px 14px;margin:12px 0;border-left:8px solid;border-radius:4px}
.verdict .mark{width:22px;height:22px;vertical-align:-4px;margin-right:6px}
.verdict-yes{background:#dafbe1;border-color:#1a7f37} .verdict-no{background:#ffebe9;border-color:#cf222e}
.verdict-unknown{background:#f3e8ff;border-color:#9467bd}
.mark{vertical-align:-3px;margin-right:4px} .muted{color:#6e7781} td.score-dim{color:#6e7781}
"""


def _h(x: Any) -> str:
    return escape(_v(x))


def _worst_value(s: dict[str, Any]) -> Any:
    return s.get("worst", s.get("peak"))  # a report built before `worst` existed has only `peak`


def _worst_cell(s: dict[str, Any]) -> str:
    """The worst value and which way it is worst: (min) for higher-is-better, (max) for lower-is-better."""
    side = {"up": " (min)", "down": " (max)"}.get(str(s.get("direction")), "")
    value = _worst_value(s)
    return f"{_v(value)}{side}" if value is not None else "–"


def _outage_note(m: dict[str, Any]) -> str:
    """A recovery time that a telemetry outage lengthened says so: the system may have recovered sooner."""
    out = m.get("telemetry_outage_s")
    if not out:
        return ""
    return f" — includes {_v(out)} s of lost telemetry: the system may have recovered sooner"


def _trend_link(r: dict[str, Any], add: Any) -> None:
    """A small section pointing at this scenario's figures over time (docs/history.md): a relative link, so a
    report kept next to `history.json` opens it, and the command that writes it. Nothing fetched."""
    services = sorted({s["service"] for s in r["score"]["services"]})
    cmd = "controlroom history" + (f" --service {services[0]}" if len(services) == 1 else "") + \
        " --format json > history.json"
    add('<h2 id="trend">Trend across game days</h2>')
    add(f'<p>This session is one run of {escape(r["experiment"]["name"] or "this scenario")}. '
        f'The <a href="history.json">trend</a> (validation, rollbacks, recovery, score over time, '
        f'suggestions) is written next to this report by <code>{escape(cmd)}</code>.</p>')


def render_html(report: dict[str, Any]) -> str:
    r = report
    e, x = r["experiment"], r["execution"]
    colour = _STATUS_COLOURS.get(r["status"], "#555")
    out: list[str] = []
    add = out.append
    add("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Game day report: {_h(e['name'] or e['id'])}</title><style>{_CSS}</style></head><body>")
    add(f"<h1>Game day report: {_h(e['name'] or e['id'])}</h1>")
    ok, said = hypothesis_verdict(r)
    kind = {True: "yes", False: "no", None: "unknown"}[ok]
    add(f'<div class="verdict verdict-{kind}">{_MARKS[ok]}<strong>{escape(said)}</strong></div>')
    add(f"<p><span class=\"badge\" style=\"background:{colour}\">{_h(r['status'])}</span> "
        f"experiment <code>{_h(e['id'])}</code> · environment {_h(e['environment'])}</p>")
    if r["incomplete"]:
        why = ("The journal ends without session-ended: the session crashed or was killed."
               if r["status"] == "incomplete" else "Damaged journal lines were skipped (see Journal warnings).")
        add(f"<div class=\"banner\"><strong>Incomplete.</strong> {why} Figures cover what was recorded.</div>")
    hyp = r["hypothesis"]
    add("<table>")
    for k, v in (("Hypothesis", hyp["statement"]), ("Validated", hyp["validated"]), ("Started", x["started"]),
                 ("Ended", x["ended"]), ("Duration", f"{_v(x['duration_s'])} s"), ("Auto-rollback", x["auto_rollback"]),
                 *((f"Stopped at {clock(st['mono'] or 0)}", _stop_words(st)) for st in x["emergency_stops"])):
        add(f"<tr><th>{k}</th><td>{_h(v)}</td></tr>")
    note = score_note(r)
    score = _h(r["score"]["overall"]) + (" / 100" if r["score"]["overall"] is not None else "")
    # Not validated: the score is dimmed and says what it measures, so it cannot be read as a pass.
    cell = '<td class="score-dim">' if note else "<td>"
    add(f"<tr><th>Resilience score</th>{cell}{score}"
        + (f' <span class="muted">— {escape(note)}</span>' if note else "") + "</td></tr>")
    add("</table>")

    add("<h2>Resilience score</h2>")
    weights = ", ".join(f"{COMPONENT_TITLES[k]} {w:g}" for k, w in r["score"]["weights"].items())
    add(f"<p>Weights: {escape(weights)}. A component that cannot be judged is left out and the others are scaled up.</p>")
    for t in r["score"]["targets"]:
        svc = f" (service {_h(t['service'])})" if t["service"] else ""
        add(f"<h3>{_h(t['target'])}{svc}: {_h(t['total'])}</h3>")
        add(score_svg(t["components"]))
        add("<table><tr><th>component</th><th>score</th><th>weight</th><th>effective</th><th>points</th></tr>")
        for name, c in t["components"].items():
            add(f"<tr><td>{escape(COMPONENT_TITLES.get(name, name))}</td><td class=\"num\">{_h(c['score'])}</td>"
                f"<td class=\"num\">{c['weight']:g}</td><td class=\"num\">{c['effective_weight']:g}</td>"
                f"<td class=\"num\">{c['points']:g}</td></tr>")
        add("</table>")
    _trend_link(r, add)

    add("<h2>Observed behaviour</h2>")
    add("<p class=\"legend\"><span><i class=\"sw\" style=\"background:#ff7f0e;opacity:.35\"></i>fault window</span>"
        "<span><i class=\"sw\" style=\"background:#d62728\"></i>stop threshold / breach</span>"
        "<span><i class=\"sw\" style=\"background:#9467bd\"></i>rollback</span>"
        "<span><i class=\"sw\" style=\"background:#1f77b4\"></i>note</span></p>")
    windows = [(f["window"][0], f["window"][1], f"{f['fault']} on {f['target']}") for f in r["faults"] if f["window"]]
    t_end = float(x["duration_s"] or 0.0)
    for s in r["series"]:
        add(f"<h3>{_h(s['name'])}</h3>")
        add(f"<p>before {_h(s['before'])} · during {_h(s['during'])} · after {_h(s['after'])} · "
            f'<abbr title="{escape(WORST_HELP)}">worst</abbr> {escape(_worst_cell(s))}'
            f" · {s['samples']} samples, {s['gaps']} gaps</p>")
        add(series_svg(s, t_end=t_end, windows=windows, markers=r["timeline"]))

    add("<h2>Faults</h2>")
    if r["faults"]:
        add("<table><tr><th>fault</th><th>type</th><th>target</th><th>window</th><th>verified</th><th>status</th></tr>")
        for f in r["faults"]:
            err = f": {_h(f['error'])}" if f["error"] else ""
            add(f"<tr><td>{_h(f['fault'])}</td><td>{_h(f['type'])}</td><td>{_h(f['target'])}{_h(_pods(f))}</td>"
                f"<td>{escape(_window(f))}</td><td>{_h(f['verified'])}</td><td>{_h(f['status'])}{err}</td></tr>")
        add("</table>")
    else:
        add("<p>No fault was injected.</p>")

    rec, d, b = r["recovery"], r["degradation"], r["blast_radius"]
    add("<h2>Recovery, degradation, blast radius</h2><ul>")
    for m in rec["measurements"]:
        after = " (after the stop)" if m.get("after_stop") else ""
        add(f"<li>Recovery after {_h(m['step'])}{after}: " + (f"{_h(m['seconds'])} s" if m["held"] else "did not recover")
            + f" (criterion {_h(m.get('criterion_s', rec['criterion_s']))} s)" + escape(_outage_note(m)) + "</li>")
    add(f"<li>Graceful degradation: <strong>{_h(d['graceful'])}</strong> ({d['samples_within']} of "
        f"{d['samples_judged']} in-fault samples inside the stop thresholds)</li>")
    for c in r["cascading_failures"]:
        add(f"<li>Cascading failure: {_h(c['detail'])}</li>")
    add(f"<li>Blast radius: affected {_h(', '.join(b['affected_targets']) or 'none')}; contained "
        f"<strong>{_h(b['contained'])}</strong>"
        + (f"; unconfirmed: {_h(', '.join(b['unconfirmed']))}" if b["unconfirmed"] else "") + "</li></ul>")

    met = r["success_criteria"]["met"]
    add(f"<h2>{_MARKS[met]}Success criteria: {escape(_MD_MARKS[met].split(' ', 1)[1])}</h2><ul>")
    for c in r["success_criteria"]["criteria"]:
        by = f", {c['by']}" if c.get("by") else ""
        kind = f" (statement{by})" if c.get("kind") == "statement" else ""
        add(f"<li>{_MARKS[c['met']]}<strong>{escape(_MD_MARKS[c['met']].split(' ', 1)[1])}</strong> {_h(c['name'])}"
            + _h(kind) + (f" ({_h(c['criterion'])})" if c["criterion"] else "")
            + (f": {_h(c['detail'])}" if c["detail"] else "") + "</li>")
    add("</ul>")

    add("<h2>Insights and recommendations</h2><ul>")
    for i in r["insights"]:
        add(f"<li><span class=\"sev-{escape(i['severity'])}\">{_h(i['severity'])}</span> <code>{_h(i['id'])}</code>: "
            f"{_h(i['finding'])}<br>→ {_h(i['recommendation'])}</li>")
    add("</ul>" if r["insights"] else "<li>Nothing stood out.</li></ul>")

    add("<h2>Facilitator's notes</h2><ul>")
    for n in r["notes"]:
        add(f"<li>{clock(n['mono'] or 0)} <strong>{_h(n['author'] or 'facilitator')}</strong>: {_h(n['text'])}</li>")
    add("</ul>" if r["notes"] else "<li>No notes were taken.</li></ul>")
    if r["journal_warnings"]:
        add("<h2>Journal warnings</h2><ul>" + "".join(f"<li>{_h(w)}</li>" for w in r["journal_warnings"]) + "</ul>")
    add("</body></html>\n")
    return "\n".join(out)
