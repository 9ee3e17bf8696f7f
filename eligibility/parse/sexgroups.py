"""Requirements joined by "and" that no one can meet together: per-sex groups, disjoint age bounds.

"Women aged 50 or older and men aged 55 or older"; "younger than 6 months and older than 80 years".

Read word by word, the grammar's "and" makes one conjunction: female and 50 or older and male and 55 or older,
which nobody can meet, a confident "ineligible" for every patient. The text gives each sex its own requirement,
so the reading is the alternative of the groups: (female and 50 or older) or (male and 55 or older), the same in
an inclusion and in an exclusion. Applied only where the conjunction, in order, is a run of groups each opening
with a one-sex node of a different sex and holding a requirement of its own.
"""

from __future__ import annotations

import math

from .. import nodes as n


def per_sex_groups(rule: n.Node) -> n.Node:
    """``rule`` with each conjunction of per-sex groups read as their alternative."""
    if not any(isinstance(x, n.Sex) for x in n.walk(rule)):
        return rule  # the common case: no tree is rebuilt

    def visit(node: n.Node) -> n.Node:
        if isinstance(node, n.And):
            items = _flat(node)
            groups = _groups(items)
            if groups is not None:
                return n.Or(items=tuple(n.And(items=tuple(g), span=_span(g)) for g in groups), span=node.span)
            later = _later_sex(items)
            if later is not None:
                return later
        return n.rebuild(node, visit)

    return visit(rule)


def _later_sex(items: list[n.Node]) -> n.Node | None:
    """ "Age >= 18 years and women aged < 50 years": a one-sex group after requirements for everyone may be the
    only participants (female and under 50) or a requirement for that sex alone (women must be under 50): both
    readings, so a man is never failed by the women's requirement."""
    at = [k for k, i in enumerate(items) if isinstance(i, n.Sex)]
    if len(at) != 1 or at[0] == 0 or at[0] == len(items) - 1 or not _one_sex(items[at[0]]):
        return None
    if not isinstance(items[at[0] + 1], n.Age) or not any(isinstance(i, n.Age) for i in items[: at[0]]):
        return None  # only "women aged ..." after an age for everyone; "aged 18-75, female, with diabetes" is plain
    k = at[0]
    before, sex, after = items[:k], items[k], items[k + 1 :]
    rest = after[0] if len(after) == 1 else n.And(items=tuple(after), span=_span(after))
    scoped = n.And(items=(*before, n.Implies(condition=sex, then=rest, span=_span([sex, *after]))), span=_span(items))
    plain = n.And(items=tuple(items), span=_span(items))
    return n.Ambiguous(
        readings=(plain, scoped),
        reason="a sex named after requirements for everyone may be the only participants or those the rest is for",
        span=_span(items),
    )


def disjoint_ages(rule: n.Node) -> n.Node:
    """ "Younger than 6 months and older than 80 years": two age bounds joined by "and" that no age meets together
    mean either one (audit seed 22: an 85-year-old was not excluded). The test is the loosest reading of each
    bound: a strict lower bound may mean N or older, and a decimal bound admits the completed years or months the
    evaluator compares ("< 1.5 years" admits 1-year-olds). Bounds any age may meet together stay a conjunction."""
    if sum(isinstance(x, n.Age) for x in n.walk(rule)) < 2:
        return rule

    def visit(node: n.Node) -> n.Node:
        if isinstance(node, n.And):
            items = _flat(node)
            ages = [i for i in items if isinstance(i, n.Age)]
            if len(ages) == 2:  # other conjuncts ("patients of both genders") stay conjuncts
                a, b = (_months(i) for i in ages)
                if a[1] < b[0] or b[1] < a[0]:
                    either = n.Or(items=tuple(ages), span=_cover(ages))
                    rest = [i for i in items if not isinstance(i, n.Age)]
                    return (
                        n.And(items=(either, *rest), span=node.span)
                        if rest
                        else either.model_copy(update={"span": node.span})
                    )
        return n.rebuild(node, visit)

    return visit(rule)


def _cover(nodes: list[n.Age]) -> tuple[int, int] | None:
    spans = [x.span for x in nodes if x.span is not None]
    return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None


def _months(age: n.Age) -> tuple[float, float]:
    """The ages in completed months that an Age bound may admit on its loosest reading, as a closed interval: ages
    are whole years (or months) compared with the bound, and "> N" may mean N or older."""
    k = 12 if age.unit == "years" else 1
    lo_v, hi_v = age.value, (age.value2 if age.value2 is not None else age.value)
    if age.op == "between":
        lo, hi = math.ceil(lo_v), math.floor(hi_v)
    elif age.op == "<":
        lo, hi = 0, math.ceil(lo_v) - 1
    elif age.op == "<=":
        lo, hi = 0, math.floor(lo_v)
    elif age.op in (">", ">="):
        lo, hi = math.ceil(lo_v) if age.op == ">=" else math.floor(lo_v), None
    else:  # "="
        lo, hi = math.ceil(lo_v), math.floor(lo_v)
    return float(lo * k), (float(hi * k + (k - 1)) if hi is not None else float("inf"))


def _flat(node: n.And) -> list[n.Node]:
    items: list[n.Node] = []
    for item in node.items:
        items.extend(_flat(item) if isinstance(item, n.And) else [item])
    return items


def _groups(items: list[n.Node]) -> list[list[n.Node]] | None:
    """The items split at each one-sex node, when they open with one, hold two or more different sexes, and every
    group has a requirement besides its sex; else None."""
    if not items or not _one_sex(items[0]):
        return None
    groups: list[list[n.Node]] = []
    for item in items:
        if _one_sex(item):
            groups.append([item])
        else:
            groups[-1].append(item)
    sexes = [g[0].sexes for g in groups if isinstance(g[0], n.Sex)]
    if len(groups) < 2 or len(set(sexes)) != len(sexes) or any(len(g) < 2 for g in groups):
        return None
    if any(isinstance(x, n.Sex) for g in groups for x in g[1:]):
        return None
    return groups


def _one_sex(node: n.Node) -> bool:
    return isinstance(node, n.Sex) and len(node.sexes) == 1


def _span(items: list[n.Node]) -> tuple[int, int] | None:
    spans = [i.span for i in items if i.span is not None]
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
