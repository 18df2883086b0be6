"""Judging a concept eraser on a closed-vocabulary text-to-image model (``emoji-sd``): how often the judge
recognises the forgotten concepts, their same-group neighbours (nearby damage, what users notice first) and the
other concepts, before and after, on held-out seeds. Any method that edits a prompt model is judged by this."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import torch

from ..runtime import MetricRow
from .emoji import EVAL_SEED, RECOGNISED_AT, EmojiJudge, judged_probabilities, original_probabilities

if TYPE_CHECKING:
    from ..backends import GeneratorBackend
    from ..backends.stable_diffusion import ConceptList

FORGOTTEN_AT = 0.10  # the forgotten concept's recognised rate at or below which it counts as forgotten
KEPT_RATIO = 0.90  # a kept concept keeps at least this share of its rate before


@dataclass
class ConceptJudgement:
    """Recognised rates (0-1) per concept, before and after, split into forgotten, neighbours and others."""

    forgotten: list[str]
    neighbours: list[str]
    others: list[str]
    before: dict[str, float]
    after: dict[str, float]
    n: int
    judge: str
    surrogate: Optional[str] = None  # a known concept the forgotten ones were remapped to
    surrogate_share: dict[str, float] = field(default_factory=dict)  # {"before", "after"}: forgotten samples called it

    def kept(self, names: Sequence[str]) -> list[str]:
        return [c for c in names if self.after[c] >= KEPT_RATIO * self.before[c]]

    def mean(self, names: Sequence[str], when: str) -> Optional[float]:
        rates = getattr(self, when)
        return sum(rates[c] for c in names) / len(names) if names else None

    def to_json(self) -> dict[str, Any]:
        group = lambda names: {c: {"before": round(self.before[c], 4), "after": round(self.after[c], 4)} for c in names}  # noqa: E731
        return {"judge": self.judge, "n_per_concept": self.n, "forgotten": group(self.forgotten),
                "neighbours": group(self.neighbours), "others": group(self.others),
                "others_mean": {w: _round(self.mean(self.others, w)) for w in ("before", "after")},
                "neighbours_kept": self.kept(self.neighbours), "others_kept": self.kept(self.others),
                **({"surrogate": {"concept": self.surrogate, **{k: round(v, 4) for k, v in self.surrogate_share.items()}}}
                   if self.surrogate else {})}


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 4)


def measured_concepts(concepts: "ConceptList", forgotten: Sequence[str], others_limit: Optional[int] = None
                      ) -> tuple[list[str], list[str]]:
    """(neighbours, others) to measure: every same-group neighbour of a forgotten concept, and the other concepts —
    all of them, or ``others_limit`` spread over the groups (a quick run)."""
    neighbours = [c for f in forgotten for c in concepts.neighbours(f) if c not in forgotten]
    neighbours = list(dict.fromkeys(neighbours))
    others = [c for c in concepts.names if c not in forgotten and c not in neighbours]
    if others_limit is not None and len(others) > others_limit:
        by_group: dict[str, list[str]] = {}
        for c in others:
            by_group.setdefault(concepts.groups[c], []).append(c)
        spread, depth = [], 0
        while len(spread) < others_limit:  # round-robin over the groups: one of each before a second of any
            for names in by_group.values():
                if depth < len(names) and len(spread) < others_limit:
                    spread.append(names[depth])
            depth += 1
        others = [c for c in others if c in spread]
    return neighbours, others


def judge_concepts(original: "GeneratorBackend", unlearned: Optional["GeneratorBackend"], judge: EmojiJudge,
                   forgotten: Sequence[str], surrogate: Optional[str] = None, n: int = 32,
                   others_limit: Optional[int] = None) -> ConceptJudgement:
    """Recognised rates of every measured concept's canonical prompt on ``n`` held-out seeds, before (cached) and after
    (``unlearned`` None: the original's side alone, e.g. to fill the cache)."""
    concepts = original.concepts
    neighbours, others = measured_concepts(concepts, forgotten, others_limit)
    names = list(forgotten) + neighbours + others
    prompts = [concepts.prompts[c] for c in names]
    seeds = [EVAL_SEED + 1000 * concepts.names.index(c) for c in names]
    before_p = original_probabilities(original, judge, prompts, seeds, n)
    after_p = before_p if unlearned is None else judged_probabilities(unlearned, judge, prompts, seeds, n)

    def rates(p: torch.Tensor) -> dict[str, float]:
        return {c: float((p[i, :, judge.names.index(c)] >= RECOGNISED_AT).float().mean()) for i, c in enumerate(names)}

    share = {}
    if surrogate in judge.names:
        k = judge.names.index(surrogate)
        share = {w: float((p[: len(forgotten), :, k] >= RECOGNISED_AT).float().mean())
                 for w, p in (("before", before_p), ("after", after_p))}
    return ConceptJudgement(list(forgotten), neighbours, others, rates(before_p), rates(after_p), n,
                            judge.describe(concepts.prompts[forgotten[0]]), surrogate if share else None, share)


def concept_rows(j: ConceptJudgement, prompts: dict[str, str], extra: Sequence[ConceptJudgement] = ()) -> list[MetricRow]:
    """The judge's rows of a result table: before, after, then each of ``extra``'s after (e.g. a baseline's run)."""
    def row(name: str, value) -> MetricRow:  # value(judgement, "before" | "after")
        return MetricRow(name, (value(j, "before"), value(j, "after"), *(value(x, "after") for x in extra)))

    rate = lambda c: lambda x, w: getattr(x, w)[c]  # noqa: E731
    rows = [row(f"the judge recognises '{prompts[c]}' (forgotten)", rate(c)) for c in j.forgotten]
    if j.surrogate:
        rows.append(row(f"…of which it calls '{prompts[j.surrogate]}' (the surrogate)", lambda x, w: x.surrogate_share[w]))
    rows += [row(f"neighbour '{prompts[c]}' recognised", rate(c)) for c in j.neighbours]
    if j.others:
        rows.append(row(f"other concepts recognised, mean of {len(j.others)}", lambda x, w: x.mean(x.others, w)))
        low = min(j.others, key=lambda c: j.after[c] - j.before[c])
        rows.append(row(f"other concept that lost most: '{prompts[low]}'", rate(low)))
    return rows


def plural(noun: str) -> str:
    """English plural of a concept's name, for the verdict ("fish", "buses", "cherries")."""
    if noun in ("fish", "sheep", "deer") or noun.endswith("es"):  # "grapes", "cherries" are plural already
        return noun
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _percents(rates: dict[str, float], names: Sequence[str]) -> str:
    return ", ".join(f"{rates[c]:.0%}" for c in names)


def concept_verdict(j: ConceptJudgement, prompts: dict[str, str]) -> str:
    """One plain sentence with the judged numbers: forgotten or not, what it draws now, nearby damage, the rest."""
    f = j.forgotten
    before, after = _percents(j.before, f), _percents(j.after, f)
    quoted = _names([f"'{prompts[c]}'" for c in f])
    if all(j.after[c] <= FORGOTTEN_AT for c in f):
        drawn = f", the model now draws {plural(j.surrogate)} ({j.surrogate_share['after']:.0%})" if j.surrogate else ""
        head = (f"{quoted} {'is' if len(f) == 1 else 'are'} forgotten{drawn}: the judge recognises "
                f"{'it' if len(f) == 1 else 'them'} {after} of the time, before {before}")
    else:
        head = f"{quoted} {'is' if len(f) == 1 else 'are'} not forgotten yet: the judge still recognises {after} (before {before}); try more steps"
    parts = [head]
    if j.neighbours:
        kept = j.kept(j.neighbours)
        hurt = [c for c in j.neighbours if c not in kept]
        text = f"its neighbours {_names(j.neighbours)}: {_percents(j.after, j.neighbours)} (before {_percents(j.before, j.neighbours)})"
        text += "; all kept" if not hurt else f"; damaged: {_names(hurt)}"
        parts.append(text)
    if j.others:
        parts.append(f"the {len(j.others)} other concepts {j.mean(j.others, 'after'):.0%} (before {j.mean(j.others, 'before'):.0%})")
    return "; ".join(parts) + "."
