"""What a campaign cell settles (issue #31): the paper's claims it enters, the reported number it
gives, and so its value per CPU hour, by which :func:`ffcnn_lib.campaign.plan` ranks the cells.

A claim is judged as soon as two of its cells with finished runs at the paper's settings make a
comparison (a partial verdict, :mod:`ffcnn_lib.claims`; ``Claim.compares`` says which cells do), so
a cell is worth most where it makes a claim's first comparison (:data:`UNLOCKS`), less where it
adds one to a claim already judged (:data:`MOVES`), least where it makes none yet (:data:`FIRST`:
the first of a pair); a reported number without evidence adds :data:`NUMBER`. Further seeds are
worth something only where a verdict hinges on them: a claim that reads "inconclusive" and compares
the cell (a trend judged series by series: in the cell's own series, if that one is inconclusive),
or a reported number within :data:`HINGE_SE` standard errors (:func:`number_hinges`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from .config import Config
from .sweeps import ARTIFACTS, cell_key, cell_plan

UNLOCKS, MOVES, FIRST, NUMBER = 2.0, 1.0, 0.5, 1.0
HINGE_SE = 3.0  # a difference within this many standard errors of zero: more seeds may decide it


def claim_label(text: str) -> str:
    """A claim in a few words, with its source: "Accuracy falls with smaller filter size [Fig. 4B]"."""
    source = re.findall(r"\(([^()]*)\)\s*$", text)
    head = re.split(r"[(:]", text, maxsplit=1)[0].strip()
    return f"{head} [{source[0]}]" if source else head


def entered(config: Config, artifacts: tuple[str, ...]) -> list:
    """The claims (:data:`ffcnn_lib.claims.CLAIMS`) that a run of ``config`` at the paper's settings
    enters: it is a cell of an artifact a claim reads (as the artifact defines it, not a variant of
    one), and the claim's own selection of cells (``Claim.cells``) takes it."""
    from .claims import CLAIMS

    out = []
    for claim in CLAIMS:
        for a in set(artifacts) & set(claim.artifacts):
            if config not in ARTIFACTS[a]():
                continue
            row = pd.DataFrame([{**cell_key(config), "artifact": a}])
            if claim.cells is None or bool(claim.cells(row).iloc[0]):
                out.append(claim)
                break
    return out


def claim_labels(config: Config, artifacts: tuple[str, ...]) -> tuple[str, ...]:
    """The short labels (:func:`claim_label`) of the claims ``config`` enters (:func:`entered`)."""
    return tuple(claim_label(c.text) for c in entered(config, artifacts))


def paper_cells_done() -> dict[str, list[dict]]:
    """Per claim (its text): its cells (as :func:`~ffcnn_lib.sweeps.cell_key`) that have finished
    runs at the paper's settings."""
    from .claims import CLAIMS

    plans = {a: cell_plan(a) for a in {a for c in CLAIMS for a in c.artifacts}}
    done: dict[str, list[dict]] = {}
    for claim in CLAIMS:
        keys = []
        for a in claim.artifacts:
            for profile, paper, _ in plans[a]:
                key = cell_key(paper)
                row = pd.DataFrame([{**key, "artifact": a}])
                if profile == "paper" and (claim.cells is None or bool(claim.cells(row).iloc[0])):
                    keys.append(key)
        done[claim.text] = keys
    return done


def comparisons(claim, keys: list[dict]) -> int:
    """How many comparisons the cells ``keys`` (as :func:`~ffcnn_lib.sweeps.cell_key`) give ``claim``:
    pairs that agree on the columns its ``compares`` holds equal and differ in the one it varies;
    where one cell is enough (``compares`` None), the distinct cells."""
    cells = {tuple(sorted((k, str(v)) for k, v in key.items())) for key in keys}
    if claim.compares is None:
        return len(cells)
    return sum(len(g) * (len(g) - 1) // 2 for g in claim.groups([dict(c) for c in cells]).values())


def _number(config: Config, status: pd.DataFrame) -> pd.DataFrame:
    """The rows of the README's status table (:func:`ffcnn_lib.report.status_table`) that ``config``'s
    cell gives."""
    from .report import KEY

    key = cell_key(config)
    mask = pd.Series(True, index=status.index)
    for k in KEY:
        if k in key:
            mask &= status[k].astype(str) == str(key[k])
    return status[mask]


def number_hinges(numbers: pd.DataFrame, pool: dict | None = None) -> bool:
    """Whether one of the reported numbers ``numbers`` (rows of the status table) differs from the
    paper's by less than :data:`HINGE_SE` standard errors (its tolerance over the quantile behind it:
    the t of the seed spread ``pool`` it was taken with, else the normal one of the sampling stand-in)."""
    from .report import spread_of

    for _, r in numbers.iterrows():
        if r["n_seeds"] and math.isfinite(r["diff_pp"]) and math.isfinite(r["tolerance_pp"]):
            spread = spread_of(pool or {}, r["method"], str(r.get("profile", "paper")))
            seeds = r.get("noise") == "seed spread" and spread is not None and spread.known
            if abs(r["diff_pp"]) <= HINGE_SE * r["tolerance_pp"] / (spread.crit() if seeds else 1.96):
                return True
    return False


def _inconclusive(verdicts: dict[str, str], claim) -> bool:
    return verdicts.get(claim.text, "").startswith("inconclusive")


def _series_open(claim, evidence: dict[str, str], key: dict) -> bool:
    """Whether the series of a trend claim that cell ``key`` lies in is undecided on its own
    (:func:`ffcnn_lib.claims.series_outcomes`): a further seed of 16x3x3 settles nothing in Fig. 4B's
    "3x3 by filters", confirmed, while 5x5 holds that claim back. True for a claim without series,
    and where the evidence names no series of the cell's (nothing read: the claim's verdict decides)."""
    from .claims import series_outcomes

    if claim.series is None:
        return True
    return series_outcomes(evidence.get(claim.text, "")).get(claim.series(key), "inconclusive") == "inconclusive"


def _compared(claim, done: list[dict], key: dict) -> bool:
    """Whether the finished cell ``key`` is in one of ``claim``'s comparisons (another seed of it can
    move only those)."""
    return key in done and comparisons(claim, done) > comparisons(claim, [d for d in done if d != key])


@dataclass(frozen=True)
class Worth:
    """What a cell settles: ``value`` (claim and number units), the claims it enters, and why."""
    value: float
    claims: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Judge:
    """The state of the evidence that a cell's worth depends on: per claim its cells with finished
    runs at the paper's settings (:func:`paper_cells_done`) and its verdict, the README's status
    table of the reported numbers, and the artifacts with reported numbers. :meth:`empty` knows
    nothing: every cell is worth 0 (the plan then falls back to the cells' priorities)."""
    done: dict
    verdicts: dict
    status: pd.DataFrame
    reporting: frozenset
    pool: dict = field(default_factory=dict)  # the seed spreads behind the status table's tolerances
    evidence: dict = field(default_factory=dict)  # per claim (its text), its evidence (a trend's series outcomes)

    @classmethod
    def empty(cls) -> "Judge":
        return cls({}, {}, pd.DataFrame(), frozenset())

    @classmethod
    def now(cls, root=None) -> "Judge":
        """From the result store (:func:`ffcnn_lib.experiments.results_dir`); :meth:`empty` for
        another ``root`` (the report functions read the store only)."""
        from .claims import check_claims
        from .experiments import results_dir
        from .report import evidence, global_pool, reported, status_table

        if root is not None and root.resolve() != results_dir().resolve():
            return cls.empty()
        frames = {a: e for a in ARTIFACTS if not (e := evidence(a)).empty}
        pool = global_pool()  # the summary's: read once, for the claims and the status table
        table = check_claims(frames, None, pool=pool).set_index("claim")
        return cls(paper_cells_done(), table["verdict"].to_dict(), status_table(pool),
                   frozenset(reported()["artifact"]), pool, table["evidence"].to_dict())

    def worth(self, config: Config, artifacts: tuple[str, ...], seed: int) -> Worth:
        """The value of training ``config`` (seed ``seed``; a cell of ``artifacts``) to the end
        (module docstring). A cell that is no artifact's own configuration is worth nothing here."""
        if not self.done and self.status.empty:
            return Worth(0.0, (), "not judged (no evidence read)")
        claims = entered(config, artifacts)
        labels = tuple(claim_label(c.text) for c in claims)  # the claims just found, not entered() again
        gives = any(a in self.reporting and config in ARTIFACTS[a]() for a in artifacts)
        numbers = _number(config, self.status) if gives else self.status.iloc[:0]
        key = cell_key(config)
        if seed > 0:  # a further seed counts only for the inconclusive claims it is compared in
            claims = [c for c in claims if _inconclusive(self.verdicts, c)
                      and _compared(c, self.done.get(c.text, []), key) and _series_open(c, self.evidence, key)]
            hinged = number_hinges(numbers, self.pool)
            if not claims and not hinged:
                return Worth(0.0, labels, "a further seed, and no verdict hinges on it")
        value, parts = 0.0, []
        for c in claims:
            done = self.done.get(c.text, [])
            before, after = comparisons(c, done), comparisons(c, [*done, key])
            # a further seed of a cell already judged moves its (inconclusive) claim
            w = MOVES if key in done else FIRST if after == before else UNLOCKS if before == 0 else MOVES
            parts.append({UNLOCKS: "unlocks", MOVES: "moves", FIRST: "starts"}[w] + f" '{claim_label(c.text)}'")
            value += w
        if hinged if seed > 0 else len(numbers) and (numbers["n_seeds"] == 0).all():
            value += NUMBER
            parts.append("a seed a reported number's verdict hinges on" if seed else
                         "gives a reported number its first evidence")
        return Worth(value, labels, "; ".join(parts) or "enters no claim of the paper")
