"""What a chapter shows: evidence only, its tables, its lead paragraph.

What counts as evidence (issue #15): runs at the paper's widths and data, under the ``paper``
profile (its settings) or the ``short`` one (20 epochs, one seed: indicative). The ``smoke`` and
``cpu`` profiles train networks eight times narrower on a fraction of the data with raised learning
rates; their numbers say nothing about the paper's. They still execute every notebook in CI (that
is how the pipeline is tested), but the default build (``profile="auto"``) shows none of their
numbers as results: a cell that has only such runs is said to have no evidence yet, with what a run
at the paper's settings would cost (:func:`no_evidence_note`). An explicit ``profile="smoke"`` (or
``"cpu"``) build shows them, under a banner that says what they are (:func:`banner`).

Helpers for the notebooks, so that each stays a call or two:

* :func:`evidence`, :func:`banner`, :func:`no_evidence_note`, :func:`lead` (a chapter's opening:
  paper-settings results, campaign progress, reduced-profile evidence, the cells without evidence);
* :func:`show` (the one table formatter: no index, blank for NaN, percent, pp, durations),
  :func:`comparison` (reported vs ours), :func:`claims_table`, :func:`summarize` (mean ± std (n)),
  :func:`pct`, :func:`missing_table` (the summary's numbers without evidence, with their cost);
* :func:`longest_record` (the longest real per-epoch record of a cell, finished or interrupted),
  :func:`record_text` (its figure: ``plotting.validation_curves``);
* :func:`summary`: the summary page's numbers and claims (``report`` gives the numbers and their
  verdicts, ``claims`` the claims, which read ``report``: the imports run one way).

Figures are :mod:`ffcnn_lib.plotting`'s.
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .experiments import results_dir, run_device, run_precision

EVIDENCE = ("paper", "short")  # profiles at the paper's widths and data


# ---------------------------------------------------------------------------------------------
# Profiles: what each one is, and what of it the book shows.

def narrow() -> tuple[str, ...]:
    """Profiles whose networks are narrower than the paper's (``report.NARROW``)."""
    from . import report

    return tuple(report.NARROW)


def profile_settings(name: str) -> str:
    """What a profile changes from the paper's settings, computed from its definition
    (:data:`ffcnn_lib.sweeps.PROFILE`), learning rates included: e.g. "widths / 8, 1,000 training
    images, 2 epochs, 1 seed; FF learning rate x20 (1e-03), linear classifier's 1e-02"."""
    from .config import Config
    from .sweeps import PROFILE

    p = PROFILE[name]
    ff, default = p.apply(Config(), p.seeds[0]), Config()
    parts = [f"widths / {p.width_divisor}" if p.width_divisor != 1 else "the paper's widths",
             f"{p.n_train:,} training images" if p.n_train else "the full 50,000 training images",
             f"{ff.epochs} epochs", f"{len(p.seeds)} seed{'s' if len(p.seeds) > 1 else ''}"]
    text = ", ".join(parts)
    if ff.lr != default.lr or ff.classifier_lr != default.classifier_lr:
        conv = ff.lr / default.lr
        clf = ff.classifier_lr / default.classifier_lr
        text += (f"; FF conv learning rate x{conv:g} ({ff.lr:g} instead of {default.lr:g}), linear classifier's "
                 + (f"x{clf:g} ({ff.classifier_lr:g})" if clf != 1 else "unchanged (x1)")
                 + (f", capped at {ff.classifier_lr:g}" if clf != conv and clf != 1 else "")
                 + "; BP unchanged")
    return text


PROFILE_MEANING = {"paper": "a reproduction: the paper's settings",
                   "short": "indicative: the paper's networks, trained a tenth as long",
                   "cpu": "comparisons between small networks only (the open-choices chapter); not evidence "
                          "for the paper's numbers",
                   "smoke": "only that the pipeline runs: its numbers are pipeline checks, not results"}


def profiles_table():
    """The four profiles, their settings (learning rates included) and what their numbers mean."""
    from .sweeps import FIDELITY

    rows = [{"profile": p, "settings": profile_settings(p), "what its numbers mean": PROFILE_MEANING[p]}
            for p in FIDELITY]
    return show(pd.DataFrame(rows), wrap=("settings", "what its numbers mean"))


def evidence(df: pd.DataFrame, profile: str = "auto") -> pd.DataFrame:
    """The rows of ``df`` the book shows as results: all of them in an explicit narrow build
    (``profile="smoke"`` or ``"cpu"``, under :func:`banner`), else only those at the paper's widths
    and data (profiles ``paper`` and ``short``)."""
    if df is None or df.empty or "profile" not in df or profile in narrow():
        return df
    return df[~df["profile"].isin(narrow())]


def banner(profile: str):
    """For an explicit narrow build: an HTML warning saying what its numbers are (None otherwise:
    a notebook cell ending in it shows nothing)."""
    if profile not in narrow():
        return None
    from IPython.display import HTML

    what = ("pipeline checks" if profile == "smoke"
            else "runs of small networks, for comparisons between them (the open-choices chapter)")
    return HTML(_admonition(
        "warning", f"This page was built with the {profile} profile: {what}, not results",
        f"Every number and figure on this page comes from <code>{profile}</code>-profile runs: "
        f"{html.escape(profile_settings(profile), quote=False)}. They show that the pipeline runs end to end and "
        "say nothing about the paper's numbers. The default build (<code>profile=\"auto\"</code>) shows the runs "
        "at the paper's widths and data instead."))


def _admonition(kind: str, title: str, body: str) -> str:
    return (f'<div class="admonition {kind}"><p class="admonition-title">{title}</p>'
            f"<div>{body}</div></div>")


def _cell_configs(artifact: str) -> list:
    from .sweeps import ARTIFACTS

    return ARTIFACTS[artifact]()


def _label_parts(config, varying: set[str] | None = None) -> list[str]:
    f = config.filters
    width = f"{f[0]} filters" if len(set(f)) == 1 else f"{', '.join(map(str, f))} filters"
    parts = [f"{config.model.upper()} {width} {config.kernel}x{config.kernel}"]
    show_ = (lambda k: True) if varying is None else (lambda k: k in varying)
    if show_("batch_size"):
        parts.append(f"batch {config.batch_size}")
    if config.model == "ff":
        if show_("K"):
            parts.append(f"K {config.K:g}")
        if show_("label_set"):
            parts.append(f"label {config.label_set.replace('set', 'set ')}")
        if show_("include_first_layer"):
            parts.append("layer 1 in the loss" if config.include_first_layer else "layer 1 not in the loss")
    if show_("max_pool") and config.max_pool:
        parts.append("max pooling")
    if config.tags and (varying is None or "tags" in varying):
        parts.append(config.tags[0])
    return parts


def cell_label(config, varying: set[str] | None = None) -> str:
    """A cell in words: "FF 128 filters 7x7, batch 25, K 0.2" (with ``varying``, only the fields that
    vary within its artifact beyond model, width and filter size)."""
    return ", ".join(_label_parts(config, varying))


def _condense(labels: list[list[str]]) -> list[str]:
    """Cells that differ only in their last field, as one: "FF 32 filters 7x7, batch 25, K 0.1, 0.2, 0.35"."""
    groups: dict[tuple, list[str]] = {}
    for parts in labels:
        groups.setdefault(tuple(parts[:-1]), []).append(parts[-1])
    out = []
    for head, lasts in groups.items():
        words = [last.rsplit(" ", 1) for last in lasts]
        if len(lasts) > 1 and all(len(w) == 2 and w[0] == words[0][0] for w in words):
            last = f"{words[0][0]} {', '.join(w[1] for w in words)}"
            out.append(", ".join([*head, last]) if head else last)
        else:
            out += [", ".join([*head, last]) if head else last for last in lasts]
    return out


def _varying(configs) -> set[str]:
    fields = ("batch_size", "K", "label_set", "include_first_layer", "max_pool", "tags")
    return {k for k in fields if len({getattr(c, k) for c in configs}) > 1}


def _cost(config) -> tuple[str, float]:
    """(phrase, GPU minutes) of one run of ``config`` at the paper's settings (``ffcnn_lib.costs``)."""
    try:
        from . import costs

        phrase = costs.describe(config)
    except Exception as err:  # the estimate is being refined; a page never fails on it
        return f"cost not estimated ({type(err).__name__})", math.nan
    try:
        minutes = float(costs.estimate(config).get("gpu_minutes", math.nan))
    except Exception:
        minutes = math.nan
    return phrase, minutes


def missing_cells(artifact: str, df: pd.DataFrame, profile: str = "auto") -> list[int]:
    """Cells of ``artifact`` (positions in ``ARTIFACTS[artifact]()``) with no evidence in ``df``."""
    shown = evidence(df, profile)
    if shown is not None and not shown.empty and "cell" not in shown:
        return []  # rows that do not say their cell: nothing to tell missing from
    have = set(shown["cell"]) if shown is not None and "cell" in shown else set()
    return [i for i in range(len(_cell_configs(artifact))) if i not in have]


def no_evidence_note(artifact: str, df: pd.DataFrame, profile: str = "auto", label: str = "",
                     under_way: dict[str, str] | None = None):
    """An HTML note naming the cells of ``artifact`` that have no evidence yet (only smoke or cpu
    runs, or none), with what one run of each at the paper's settings would cost
    (``ffcnn_lib.costs.describe``); None if every cell has evidence, or in an explicit narrow build.
    ``under_way``: run id -> how far the CPU campaign has trained it ("28 of 200 epochs"), said
    beside its cell, so that a reader does not take a cell already training for one not started."""
    if profile in narrow():
        return None
    configs = _cell_configs(artifact)
    missing = missing_cells(artifact, df, profile)
    if not missing:
        return None
    varying = _varying(configs)
    groups: dict[tuple[str, str], list[list[str]]] = {}
    total = 0.0
    for i in missing:
        phrase, minutes = _cost(configs[i])
        done = (under_way or {}).get(configs[i].run_id(), "")
        groups.setdefault((phrase, done), []).append(_label_parts(configs[i], varying))
        total += minutes
    items = "".join(f"<li>{html.escape('; '.join(_condense(labels)))}"
                    + (f" ({len(labels)} cells): <b>{html.escape(phrase)}</b> each" if len(labels) > 1 else
                       f": <b>{html.escape(phrase)}</b>")
                    + (f"; under way in the CPU campaign ({html.escape(done)}, above)" if done else "") + "</li>"
                    for (phrase, done), labels in groups.items())
    what = "no finished run at the paper's widths and data yet"
    head = (f"This cell has {what}" if len(configs) == 1 else
            f"{len(missing)} of {len(configs)} cells have {what}" if len(missing) < len(configs) else
            f"Neither cell has a finished run at the paper's widths and data yet" if len(configs) == 2 else
            f"None of the {len(configs)} cells has a finished run at the paper's widths and data yet")
    total_text = (f" In all, about {total / 60:.1f} GPU hours for one seed of each (the paper profile runs five)."
                  if len(missing) > 1 and math.isfinite(total) and total > 0 else "")
    body = (f"<p>{head}: only pipeline checks (<code>smoke</code>: "
            f"{html.escape(profile_settings('smoke').split(';')[0], quote=False)}) or small networks "
            "(<code>cpu</code>) have run "
            f"{'it' if len(configs) == 1 else 'them'}, and their numbers are not shown as results. What one run at "
            f"the paper's settings (200 epochs, one seed) would cost:</p><ul>{items}</ul>"
            + (f"<p>{total_text.strip()}</p>" if total_text else ""))
    from IPython.display import HTML

    title = ("No evidence yet" + (" for some cells" if len(missing) < len(configs) else "")
             + (f": {label}" if label else ""))
    return HTML(_admonition("note", html.escape(title, quote=False), body))


def provenance(df: pd.DataFrame, profile: str = "auto") -> str:
    """The provenance line of what a page shows (:func:`ffcnn_lib.sweeps.describe` of the evidence),
    and how many pipeline-check runs it leaves out."""
    from .sweeps import describe

    shown = evidence(df, profile)
    if shown is not None and not shown.empty:
        text = f"Runs shown: {re.sub(r'^profiles?: ', '', describe(shown))}."
    else:
        text = "Runs shown: none yet at the paper's widths and data."
    hidden = df[~df.index.isin(shown.index)] if shown is not None else df
    if len(hidden):
        counts = hidden["profile"].value_counts()
        text += (" Not shown: " + ", ".join(f"{n} {p}-profile run{'s' if n > 1 else ''}" for p, n in counts.items())
                 + " (narrow networks: pipeline checks, not evidence for the paper's numbers).")
    return text


def findings(artifact: str, df: pd.DataFrame, profile: str = "auto", title: str | None = None) -> list[str]:
    """What the runs at the paper's settings say so far about ``artifact``, as sentences: its
    reported numbers that have such runs, with their verdicts (:func:`ffcnn_lib.report.compare`),
    and its claims that have a verdict, whole or partial, with where they were tested
    (:func:`ffcnn_lib.claims.claims_for`). Empty where nothing has been judged yet.

    ``title`` ("Fig. 4A"): the artifact's name in a chapter of several, whose finished but unjudged
    cells are then said to lack a verdict *of that artifact*: another artifact of the chapter may
    judge the same cell (FF 64x3x3 batch 50, alone in Fig. 4A, enters Fig. 4B's width claim)."""
    from . import claims, report

    sentences = []
    paper = df[df["profile"] == "paper"] if "profile" in df else df.iloc[:0]
    if not paper.empty and not report.reported(artifact).empty:
        nums = report.compare(paper, artifact, show_narrow=True)
        nums = nums[nums["n_seeds"] > 0]
        if len(nums):
            sentences.append("Against the paper: " + "; ".join(
                f"{r['quantity']} ({_WORDS.get(r['method'], r['method'])}), ours {r['ours_pct']:.2f} % over "
                f"{int(r['n_seeds'])} seed{'s' if r['n_seeds'] > 1 else ''} against {r['reported_pct']:.2f} % "
                f"reported: {r['verdict']}" for _, r in nums.iterrows()) + ".")
    table = claims.claims_for(artifact, df, profile)
    judged = table[~table["verdict"].str.startswith(("not ", "no evidence"))]
    for claim, r in judged.iterrows():
        where = r.get("tested_on") if isinstance(r.get("tested_on"), str) and r.get("tested_on") else ""
        sentences.append(f"{claim.rstrip('.')}: {r['verdict']}" + (f", tested on {where}" if where else "") + "."
                         + _by_series(claims.series_outcomes(str(r.get("evidence") or ""))))
    if not sentences and not paper.empty:  # a finished cell is news even before it can be judged
        sentences.append(_unjudged(report.paper_cells(paper), has_claims=not table.empty, title=title))
    return sentences


def _by_series(outcomes: dict[str, str]) -> str:
    """" Series by series: confirmed at 3x3 and 7x7, inconclusive at 5x5." where a claim's series
    disagree (:func:`ffcnn_lib.claims.series_outcomes`): the verdict alone hides what did hold."""
    from .report import _and

    if len(set(outcomes.values())) < 2:
        return ""
    said = {}
    for series, outcome in outcomes.items():
        said.setdefault(outcome, []).append(series)
    return " Series by series: " + ", ".join(f"{o} at {_and(xs)}" for o, xs in said.items()) + "."


def _unjudged(cells: pd.DataFrame, has_claims: bool, title: str | None = None) -> str:
    """The finished paper-settings cells of a chapter (of its artifact ``title``, where it has
    several) that nothing can judge yet: no reported number is theirs, and no claim has two of its
    cells (Fig. 3A's FF 16x7x7 before a second width)."""
    from . import report

    def first_accuracy(c: pd.Series) -> str:
        col = next(k for k in ("val_acc_linear [%]", "val_acc_bp [%]", "val_acc_goodness [%]") if pd.notna(c.get(k)))
        method = col.removeprefix("val_acc_").removesuffix(" [%]")
        return f"{c[col]:.2f} % validation, {_WORDS.get(method, method)}; {report._seeds(int(c['seeds']))}"

    done = "; ".join(f"{report.cell_name(c, cells)} ({first_accuracy(c)})" for _, c in cells.iterrows())
    them = "it" if len(cells) == 1 else "them"
    if title is None:
        why = " and no claim of this chapter has two such cells yet" if has_claims else ""
        return f"Finished at the paper's settings, without a verdict yet: {done}. The paper reports no number for " \
               f"{them}{why}."
    why = f", and no claim of {title} has two such cells yet" if has_claims else ""
    return f"{title}: finished at the paper's settings, without a verdict from {title} yet: {done}. {title} " \
           f"gives no number for {them}{why}."


def _md_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt().render(text)


def lead(artifact: str, df: pd.DataFrame, profile: str = "auto", *, artifacts: tuple[str, ...] = (),
         titles: dict[str, str] | None = None, also_found: tuple[str, ...] | list[str] = ()) -> None:
    """A chapter's opening, displayed (issue #31): the banner of an explicit narrow build; else a
    *What we find so far* box (:func:`findings`); its results at the paper's settings
    (``report.paper_settings``) and their provenance; then, collapsed, *Not run yet, and what it
    would cost*: the CPU campaign's progress (``campaign.under_way``) and the cells with no
    evidence yet with their cost (:func:`no_evidence_note`, which marks those under way).

    ``artifacts``: further artifacts of the chapter, their rows in ``df`` (told apart by its
    ``artifact`` column); ``titles``: a heading for each artifact's lines (e.g. "Fig. 4A");
    ``also_found``: computed sentences of the chapter's own, first in the box (a chapter beyond the
    paper, whose artifact has no reported number or claim to judge)."""
    from IPython.display import HTML, Markdown, display

    from . import campaign, report

    names = (artifact, *artifacts)
    part = {a: df[df["artifact"] == a] if "artifact" in df and len(names) > 1 else df for a in names}
    titles = titles or {}
    b = banner(profile)
    if b is not None:
        display(b)
    else:
        found = [*also_found, *(s for a in names for s in findings(
            a, part[a], profile, title=titles.get(a, a) if len(names) > 1 else None))]
        body = "".join(f"<p>{html.escape(s, quote=False)}</p>" for s in found) or (
            "<p>Nothing yet: no number of this chapter has a finished run at the paper's settings, and no claim "
            "has two of its cells with one. What they would cost is below.</p>")
        display(HTML(_admonition("tip", "What we find so far", body)))
    for a in names:
        lines = []
        if b is None:
            lines.append(report.paper_settings(a, part[a]))
            shown = evidence(part[a], profile)
            if shown is not None and "profile" in shown and (shown["profile"] == "short").any():
                n_short, n = shown.loc[shown["profile"] == "short", "cell"].nunique(), len(_cell_configs(a))
                lines.append(f"**Reduced profile** (`short`: {profile_settings('short')}): {n_short} of {n} "
                             f"cell{'s' if n > 1 else ''} so far; indicative only, marked `short` in every table "
                             "and figure.")
        if lines:
            head = f"**{titles[a]}.** " if a in titles else ""
            display(Markdown(head + "\n\n".join(lines)))
    display(Markdown(provenance(df, profile)))
    later = []
    for a in names:
        going = campaign.under_way(a) if b is None else pd.DataFrame()
        if len(going):
            later.append(_md_html((f"**{titles[a]}.** " if a in titles else "") + "**Under way:**\n\n"
                                  + campaign.progress_lines(going)))
        note = no_evidence_note(a, part[a], profile, titles.get(a, ""), under_way={
            r["run_id"]: f"{r['epochs_done']} of {r['epochs']} epochs" for _, r in going.iterrows()})
        if note is not None:
            later.append(note.data)
    if later:
        display(HTML("<details><summary>Not run yet, and what it would cost</summary>" + "".join(later) + "</details>"))


# ---------------------------------------------------------------------------------------------
# Tables: one formatter for the whole book.

LABELS = {"reported_pct": "reported [%]", "ours_pct": "ours [%]", "ours_std_pct": "std [pp]", "diff_pp": "Δ [pp]",
          "tolerance_pp": "tolerance [pp]", "n_seeds": "seeds", "train_h": "training per run", "run_filters":
          "filters (as trained)", "batch_size": "batch", "label_set": "label set", "max_pool": "max pooling",
          "include_first_layer": "layer 1 in the loss", "kernel": "filter size", "train_hours": "training",
          "left_hours": "left (estimate)", "epochs_done": "epochs done", "train_seconds": "training"}
_ACC = re.compile(r"^(val|test|train|disc)_acc(_|$)")
_WORDS = {"val": "validation", "test": "test", "train": "training", "disc": "discrimination", "bp": "BP",
          "linear": "linear", "goodness": "goodness"}


def _acc_label(col: str) -> str:
    """"val_acc_goodness" -> "validation, goodness [%]"; "disc_acc_layer2" -> "discrimination, layer2 [%]"."""
    split, _, rest = col.partition("_acc")
    rest = rest.lstrip("_")
    words = [_WORDS.get(split, split)] + ([_WORDS.get(rest, rest.replace("_", " "))] if rest else [])
    return ", ".join(words) + " [%]"


def duration(hours: float) -> str:
    """Hours as a reader wants them: "42 s", "12 min", "4.8 h"; blank for NaN, "0" for zero."""
    if hours is None or pd.isna(hours):
        return ""
    if hours == 0:
        return "0"
    s = hours * 3600
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 90 * 60 else f"{hours:.1f} h"


def _is_pct(c: str) -> bool:
    return c.endswith("[%]") or c.endswith("_pct")


def _is_pp(c: str) -> bool:
    return c.endswith("[pp]") or c.endswith("_pp")


def _is_hours(c: str) -> bool:
    return c in ("training per run", "training", "left (estimate)") or c.endswith("[h]") or c.endswith("_hours")


def show(df: pd.DataFrame, *, digits: int = 2, index: bool = False, wrap=(), fractions=(), seconds=(),
         caption: str | None = None):
    """The book's one table formatter: a styled table without the index column, blank where there
    is no value, accuracies in percent (columns named ``val_acc_*``, ``test_acc_*``, ``disc_acc_*``
    or listed in ``fractions`` are converted from fractions and labelled ``[%]``), differences in pp
    with a sign, durations in s / min / h, long text wrapped and never cut off.

    ``index=True`` keeps ``df``'s index as columns; ``wrap`` names text columns to give room."""
    d = df.reset_index() if index else df.copy()
    renames = {}
    for c in d.columns:
        if not isinstance(c, str):
            continue
        if (_ACC.match(c) and pd.api.types.is_numeric_dtype(d[c])) or c in fractions:
            d[c] = 100 * d[c]
            renames[c] = _acc_label(c) if _ACC.match(c) else f"{c.replace('_', ' ')} [%]"
        elif c == "train_seconds" or c in seconds:
            d[c] = d[c] / 3600
            renames[c] = LABELS.get(c, c)
        elif c in LABELS:
            renames[c] = LABELS[c]
        elif "_" in c:  # snake_case has no break opportunity: "max_abs_diff" would widen its column
            renames[c] = c.replace("_", " ")
    d = d.rename(columns=renames)
    fmt = {}
    for c in d.columns:
        col = d[c]
        name = str(c)
        if pd.api.types.is_bool_dtype(col):
            fmt[c] = lambda v: "yes" if v else "no"
        elif _is_hours(name) and pd.api.types.is_numeric_dtype(col):
            fmt[c] = duration
        elif pd.api.types.is_float_dtype(col):
            if _is_pp(name) and name.startswith("tolerance"):
                fmt[c] = f"±{{:.{digits}f}}"
            elif _is_pp(name) and any(w in name for w in ("Δ", "diff", " vs ", "difference", "minus")):
                fmt[c] = f"{{:+.{digits}f}}"
            elif _is_pp(name):
                fmt[c] = f"{{:.{digits}f}}"
            elif _is_pct(name):
                fmt[c] = f"{{:.{digits}f}}"
            else:
                fmt[c] = _number
        elif pd.api.types.is_integer_dtype(col):
            fmt[c] = "{:d}"
    styler = d.style.hide(axis="index").format(fmt, na_rep="")
    styler = styler.set_table_styles([
        {"selector": "", "props": "border-collapse: collapse; font-size: 0.85em; margin-bottom: 1em;"},
        {"selector": "th", "props": "text-align: left; vertical-align: bottom; padding: 3px 6px; "
                                   "border-bottom: 1px solid #999; white-space: normal; word-break: normal; "
                                   "overflow-wrap: normal; hyphens: none;"},
        {"selector": "td", "props": "padding: 3px 6px; vertical-align: top; white-space: normal; "
                                   "word-break: normal; overflow-wrap: normal; border-bottom: 1px solid #e4e4e4;"}])
    numeric = [c for c in d.columns if pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c])]
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right", "white-space": "nowrap"})
    text = [c for c in d.columns if d[c].dtype == object or pd.api.types.is_string_dtype(d[c])]
    length = {c: d[c].dropna().astype(str).str.len().max() if d[c].notna().any() else 0 for c in text}
    long_text = [c for c in d.columns if c in wrap or (c in text and length[c] > 40)]
    if long_text:
        styler = styler.set_properties(subset=long_text, **{"min-width": "10em"})
    short_text = [c for c in text if c not in long_text and length[c] <= 12]  # dates, ids: one line
    if short_text:
        styler = styler.set_properties(subset=short_text, **{"white-space": "nowrap"})
    if caption:
        styler = styler.set_caption(caption)
    if len(d.columns) >= MANY_COLUMNS:  # book/_static/tables.css lets such headers break inside words
        styler = styler.set_table_attributes('class="many-columns"')
    return styler


# From this many columns a table's headers may break inside a word on a wide screen too: whole
# words would make it wider than the page's column (the performance page's 9- and 11-column tables).
MANY_COLUMNS = 9


def _number(v) -> str:
    """A measured quantity without false precision or exponents: 1,512; 241; 8.73; 0.0774."""
    if pd.isna(v):
        return ""
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.1e}"


def pct(x: float, digits: int = 2) -> str:
    """A fraction as a percentage string, e.g. 0.99161 -> '99.16 %'."""
    return "n/a" if pd.isna(x) else f"{100 * x:.{digits}f} %"


def pm(mean: float, std: float, n: int, digits: int = 2) -> str:
    """"98.70 ± 0.12 (n = 5)"; "98.70 (n = 1)" without a spread; blank without a mean."""
    if pd.isna(mean):
        return ""
    spread = f"\u00a0±\u00a0{std:.{digits}f}" if n and n > 1 and not pd.isna(std) else ""
    return f"{mean:.{digits}f}{spread} (n\u00a0=\u00a0{int(n)})"  # no-break spaces: one value, one line


def summarize(df: pd.DataFrame, by: list[str], metrics: list[str], digits: int = 2) -> pd.DataFrame:
    """Per group of ``by`` (which should include ``profile``): each metric (a fraction) as "mean ± std
    (n)" in percent, and the precision the runs trained in. For :func:`show`."""
    rows = []
    for key, g in df.groupby(by, sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            v = g[m].dropna() * 100
            row[_acc_label(m) if _ACC.match(m) else f"{m} [%]"] = pm(v.mean() if len(v) else np.nan,
                                                                    v.std(ddof=1), len(v), digits)
        if "precision" in g:
            row["precision"] = ", ".join(sorted(g["precision"].dropna().astype(str).unique()))
        rows.append(row)
    return pd.DataFrame(rows)


def compare(df: pd.DataFrame, artifact: str, profile: str = "auto") -> pd.DataFrame:
    """``report.compare`` with narrow-profile rows blanked unless the build is narrow."""
    from . import report

    return report.compare(df, artifact, show_narrow=profile in narrow())


def comparison(cmp: pd.DataFrame, profile: str = "auto", *, source: bool = False):
    """A reported-vs-ours table for the reader, from ``report.compare``'s columns: quantity (with
    the paper's section or table where ``source``), split and method, reported, ours ± std (n seeds),
    Δ [pp] with its tolerance, profile with the training precision, verdict, and the training time
    per run with its device. All in percent; a row whose numbers come only from narrow profiles
    reads "no evidence yet" and shows none of them unless the build itself is narrow."""
    from .sweeps import PROFILE

    rows = []
    narrow_build = profile in narrow()
    for _, r in cmp.iterrows():
        p = str(r.get("profile", "") or "")
        profiles = set(p.split("/")) if p else set()
        blank = not narrow_build and (not profiles or profiles <= set(narrow()) or profiles == {"none"}
                                      or pd.isna(r.get("ours_pct", np.nan))
                                      or str(r.get("verdict", "")).startswith("no evidence"))
        verdict = str(r.get("verdict", ""))
        if blank:
            verdict = ("not run yet" if not profiles or profiles == {"none"} or verdict == "not run"
                       else f"no evidence yet ({', '.join(sorted(profiles & set(narrow()))) or p} runs only)")
        quantity = str(r.get("quantity", ""))
        if source and r.get("source", ""):
            quantity += f" ({r['source']})"
        row = {"quantity": quantity}
        if "split" in r and "method" in r:
            row["split, method"] = f"{_WORDS.get(r['split'], r['split'])}, {_WORDS.get(r['method'], r['method'])}"
        row["reported [%]"] = r.get("reported_pct", np.nan)
        n = r.get("n_seeds", np.nan)
        row["ours [%]: mean ± std (n seeds)"] = "" if blank else \
            pm(r.get("ours_pct", np.nan), r.get("ours_std_pct", np.nan), 0 if pd.isna(n) else int(n))
        diff, tol = r.get("diff_pp", np.nan), r.get("tolerance_pp", np.nan)
        row["Δ [pp] (tolerance)"] = "" if blank or pd.isna(diff) else \
            f"{diff:+.2f}" + (f" (±{tol:.2f})" if not pd.isna(tol) else "")
        row["verdict"] = verdict
        precision, device = str(r.get("precision", "") or ""), str(r.get("device", "") or "")
        hours = r.get("train_h", np.nan)
        divisor = {n: getattr(PROFILE.get(n), "width_divisor", 1) for n in profiles}
        widths = "; ".join(f"widths / {d}" for d in set(divisor.values()) if d != 1)
        runs = [(f"{p} profile" + (f" ({widths})" if widths else "")) if p else "", precision,
                (f"{duration(hours)} per run" if not pd.isna(hours) else "") + (f" on {device}" if device else "")]
        row["runs: profile, precision, training"] = "" if blank else ", ".join(x.strip() for x in runs if x.strip())
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("ours [%]: mean ± std (n seeds)", "Δ [pp] (tolerance)", "runs: profile, precision, training"):
        if c in out and (out[c] == "").all():  # no number of ours at all: the verdicts say why
            out = out.drop(columns=c)
    return show(out, wrap=("verdict", "quantity", "runs: profile, precision, training"))


def settle_text(missing) -> str:
    """What would settle the rest of a partially judged claim: its cells without a finished run at
    the paper's settings (``missing``: (artifact, cell) pairs), with the cost of one seed of each."""
    from . import costs
    from .sweeps import cell_plan

    if not missing:
        return ""
    plans: dict = {}
    configs = [plans.setdefault(a, cell_plan(a))[c][1] for a, c in missing]
    estimates = [costs.estimate(c) for c in configs]
    gpu = sum(e["gpu_minutes"] for e in estimates)
    kinds = set.intersection(*(set(e["cpu_hours"]) for e in estimates))
    cpu = sorted(((k, sum(e["cpu_hours"][k] for e in estimates)) for k in kinds), key=lambda kv: kv[1])
    parts = [f"about {gpu:.0f} GPU minutes" if np.isfinite(gpu) else "GPU time not measured yet"]
    if cpu:
        parts.append("about " + ", ".join(f"{h:.0f} h on a 2-core {kind} CPU" for kind, h in cpu))
    return (f"To settle the rest: {len(configs)} more cell{'s' if len(configs) > 1 else ''} at the paper's "
            f"settings, one seed each: {'; '.join(parts)}.")


def claims_table(claims: pd.DataFrame, profile: str = "auto"):
    """The paper's claims with their verdicts (``claims.check_claims`` / ``claims_for``), where each
    was tested, and for a partial verdict what would settle the rest (:func:`settle_text`). Unless
    the build is narrow, a claim checked only on narrow-profile runs says "not tested" without what
    those runs would read."""
    d = claims.reset_index() if "claim" not in claims else claims.copy()
    narrow_build = profile in narrow()
    rows = []
    for _, r in d.iterrows():
        p = str(r.get("profile", "") or "")
        verdict, ev = str(r.get("verdict", "")), str(r.get("evidence", "") or "")
        if not narrow_build and (p in narrow() or p == "mixed" or "profile; would read" in verdict):
            so_far = ev.find("at the paper's settings so far")
            ev = ev[so_far:] if so_far >= 0 else ""
            verdict = re.sub(r"; would read: [^)]*", "", verdict)
            if p in narrow():
                verdict = "not tested yet: fewer than two of its cells have runs at the paper's widths and data"
        missing = r.get("missing")
        if isinstance(missing, list) and missing:
            ev = f"{ev} {settle_text(missing)}".strip()
        tested = r.get("tested_on")
        rows.append({"claim": r.get("claim", ""), "verdict": verdict, "evidence": ev,
                     "tested on": tested if isinstance(tested, str) else "",
                     "checked on": "" if not narrow_build and p in narrow() else p})
    out = pd.DataFrame(rows)
    for c in ("evidence", "tested on", "checked on"):  # nothing to say: leave it out
        if c in out and (out[c] == "").all():
            out = out.drop(columns=c)
    return show(out, wrap=("claim", "verdict", "evidence", "tested on"))


# ---------------------------------------------------------------------------------------------
# The longest real record of a cell.

def longest_record(paper, df: pd.DataFrame | None = None, profile: str = "auto") -> dict | None:
    """The longest per-epoch record of the cell whose paper-settings config is ``paper`` that counts
    as evidence: a finished run among ``df``'s rows (paper or short profile; in an explicit narrow
    build, its own runs only), or an unfinished run at the paper's settings kept in
    ``results/partial/`` (a GPU lease or session that ended first), also under earlier defaults
    (PyTorch's initialization before 2026-11-25, the neutral classifier input before 2026-12-02).
    None if there is none.

    Returns ``metrics`` (per epoch), ``run_id``, ``status`` ("finished" or "interrupted"),
    ``epochs_done``, ``epochs`` (planned), ``profile``, ``init``, ``device``, ``precision``,
    ``train_seconds``, ``note`` (the record's own status line)."""
    from .experiments import load_partial
    from .sweeps import PROFILE

    found = []
    rows = df if profile in narrow() else evidence(df, profile) if df is not None else None
    if rows is not None and not rows.empty:
        for _, r in rows.iterrows():
            folder = results_dir() / "runs" / r["run_id"]
            try:
                metrics = pd.read_csv(folder / "metrics.csv")
                summary = json.loads((folder / "summary.json").read_text())
            except (OSError, ValueError):
                continue
            prov = summary.get("provenance", {})
            found.append({"metrics": metrics, "run_id": r["run_id"], "status": "finished",
                          "seed": int(r.get("seed", 0)), "epochs_done": len(metrics),
                          "epochs": int(r.get("epochs", len(metrics))), "profile": r["profile"],
                          "init": summary.get("config", {}).get("init", getattr(paper, "init", "")),
                          "classifier_input": summary.get("config", {}).get("classifier_input", "neutral"),
                          "device": run_device(prov, r.get("device", "")), "precision": run_precision(prov),
                          "train_seconds": prov.get("train_seconds", np.nan), "note": "finished"})
    if profile not in narrow():
        # Earlier defaults too: PyTorch's init (before 2026-11-25), the neutral classifier input (before 2026-12-02).
        variants = [paper] if paper.model != "ff" else list(dict.fromkeys(
            paper.replace(init=i, classifier_input=k) for i in (paper.init, "torch")
            for k in (paper.classifier_input, "neutral")))
        for v in variants:
            for name in ("paper", "short"):
                for seed in PROFILE[name].seeds:
                    run = PROFILE[name].apply(v, seed)
                    part = load_partial(run)
                    if part is None:
                        continue
                    metrics, info = part
                    prov = info.get("provenance", {}) if isinstance(info, dict) else {}
                    found.append({"metrics": metrics, "run_id": info.get("run_id", ""), "status": "interrupted",
                                  "seed": seed, "epochs_done": len(metrics), "epochs": run.epochs,
                                  "profile": name, "init": v.init, "classifier_input": v.classifier_input,
                                  "device": run_device(prov),
                                  "precision": run_precision(prov),
                                  "train_seconds": prov.get("train_seconds", np.nan), "note": info.get("status", "")})
    if not found:
        return None
    return max(found, key=lambda f: (f["epochs_done"], f["status"] == "finished"))


INIT_NAMES = {"loewe": "Loewe's initialization (our default from 2026-11-25 to 2026-12-02)",
              "torch": "PyTorch's default initialization (our default before 2026-11-25)",
              "fanin": "a fan-in-scaled initialization (our default since 2026-12-02)"}


def record_text(rec: dict, reported: dict[str, float] | None = None) -> str:
    """A record of :func:`longest_record` in words (Markdown): finished or interrupted at which
    epoch of how many, its settings, device and precision, and its last validation accuracies (goodness
    at its last check), beside the paper's (``reported``: method -> percent)."""
    m = rec["metrics"]
    last = m.iloc[-1]
    good = m.dropna(subset=["val_acc_goodness"]) if "val_acc_goodness" in m else m.iloc[0:0]
    state = (f"**Finished after {rec['epochs_done']} epochs.**" if rec["status"] == "finished" else
             f"**Interrupted at epoch {rec['epochs_done']} of {rec['epochs']}**")
    why = rec["note"].split(";", 1)[1].strip() if rec["status"] != "finished" and ";" in rec["note"] else ""
    minutes = rec["train_seconds"] / 60 if rec["train_seconds"] == rec["train_seconds"] else math.nan
    trained = (f"{duration(minutes / 60)} of training" if math.isfinite(minutes) else "")
    settings = ("the paper's settings (its widths, the full 50,000 training images, 200 epochs)"
                if rec["profile"] == "paper" else f"the {rec['profile']} profile ({profile_settings(rec['profile'])})")
    parts = [state + (f": {why}." if why else ("." if rec["status"] != "finished" else "")),
             f"Run `{rec['run_id']}`: {settings}, seed {rec['seed']}, "
             + ("PyTorch's default initialization" if rec["run_id"].startswith("bp")  # BP never changed its init
                else INIT_NAMES.get(rec["init"], rec["init"]))
             + (", the linear classifier on the neutral input (our default until 2026-12-02)"
                if rec.get("classifier_input") == "neutral" and not rec["run_id"].startswith("bp") else "") + "; "
             + ", ".join(x for x in (rec["device"], rec["precision"], trained) if x) + "."]
    accs = []
    if len(good):
        g = good.iloc[-1]
        accs.append(f"at its last goodness check (epoch {int(g['epoch'])}) validation accuracy "
                    f"**{pct(g['val_acc_goodness'])} with goodness** and {pct(g['val_acc_linear'])} with the linear "
                    "classifier")
    if "val_acc_linear" in m and (not len(good) or int(good.iloc[-1]["epoch"]) != int(last["epoch"])):
        accs.append(f"at its last epoch ({int(last['epoch'])}) {pct(last['val_acc_linear'])} with the linear "
                    "classifier")
    if accs:
        parts.append(accs[0][0].upper() + "; ".join(accs)[1:] + ".")
    if reported:
        parts.append("The paper reports " + " and ".join(f"{v:.2f} % ({k})" for k, v in reported.items())
                     + f" after {rec['epochs']} epochs.")
    if rec["status"] != "finished":
        parts.append("An unfinished run is not a result: it shows where the run stood when it stopped, not where "
                     "it would end (the learning rate cools down over the second half, Sec. 2.2).")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# The summary: the paper's numbers with evidence, and those without.

def has_evidence(numbers: pd.DataFrame, profile: str = "auto") -> pd.Series:
    """Which rows of ``report.compare`` output have a number of ours the book shows as a result:
    from runs at the paper's widths and data (any number in an explicit narrow build)."""
    ours = numbers["ours_pct"].notna() if "ours_pct" in numbers else pd.Series(False, index=numbers.index)
    if profile in narrow():
        return ours
    prof = numbers["profile"].fillna("").astype(str).str.split("/")
    return ours & prof.apply(lambda ps: any(p in EVIDENCE for p in ps))


def _paper_config(artifact: str, quantity: str):
    """The paper-settings config of the cell behind a reported number, or None."""
    from . import report
    from .sweeps import cell_key

    rep = report.reported(artifact)
    rep = rep[rep["quantity"] == quantity]
    if rep.empty:
        return None
    r = rep.iloc[0]
    for c in _cell_configs(artifact):
        key = cell_key(c)
        if all(str(key[k]) == str(r[k]) for k in report.KEY):
            return c
    return None


def missing_table(numbers: pd.DataFrame):
    """The paper's numbers that have no evidence yet, one row per quantity (its splits and methods
    together), with what one run of its cell at the paper's settings would cost."""
    rows = []
    for (artifact, quantity), g in numbers.groupby(["artifact", "quantity"], sort=False):
        config = _paper_config(artifact, quantity)
        reported_ = "; ".join(f"{_WORDS.get(r['split'], r['split'])}, {_WORDS.get(r['method'], r['method'])} "
                              f"{r['reported_pct']:.2f}" for _, r in g.iterrows())
        why = g["verdict"].iloc[0] if "verdict" in g else ""
        prof = str(g["profile"].iloc[0]) if "profile" in g else ""
        only = {"smoke": "pipeline checks only (smoke)", "cpu": "small networks only (cpu)"}
        so_far = "not run yet" if prof in ("", "none") or why == "not run" else only.get(prof, f"{prof} runs")
        rows.append({"source": g["source"].iloc[0] if "source" in g else artifact, "quantity": quantity,
                     "reported [%]": reported_, "so far": so_far,
                     "one run at the paper's settings would cost": _cost(config)[0] if config is not None else ""})
    return show(pd.DataFrame(rows), wrap=("quantity", "one run at the paper's settings would cost"))


@dataclass(frozen=True)
class Summary:
    numbers: pd.DataFrame       # the paper's 25 distinct numbers beside ours (report.distinct), with verdicts
    claims: pd.DataFrame        # every claim with its verdict and the profile it was checked on
    sources: pd.DataFrame       # per artifact, how many cells come from each profile
    text: str                   # report.coverage_text(numbers)
    per_artifact: pd.DataFrame  # all 29 rows of report.compare, artifact by artifact (as the chapters show them)
    pool: dict                  # the seed spreads behind every verdict (report.global_pool)


def summary(profile: str = "auto", train_missing: bool = True, show_narrow: bool | None = None) -> Summary:
    """The summary page: all reported numbers beside ours, all claims with verdicts, and where the
    cells come from. ``show_narrow`` (:func:`ffcnn_lib.report.compare`): default True only when
    ``profile`` is a narrow one."""
    from . import report
    from .claims import check_claims
    from .sweeps import ARTIFACTS, collect, load_result

    show = profile in report.NARROW if show_narrow is None else show_narrow
    results = {a: collect(a, profile, train_missing=train_missing, progress=False) for a in ARTIFACTS}
    pool = report.global_pool()  # one seed spread behind every verdict of the page
    every = pd.concat([report.compare(results[a], a, show_narrow=show, pool=pool)
                       for a in report.reported()["artifact"].unique()], ignore_index=True)
    claims = check_claims(results, lambda a: load_result(a, profile), show_narrow=show, pool=pool)
    numbers = report.distinct(every)
    return Summary(numbers, claims, report.sources(results), report.coverage_text(numbers), every, pool)
