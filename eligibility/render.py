"""AST -> canonical criteria-language text.

The output reads back through the grammar to the same rule (tests check the round trip), which
is what rule files store and what explanations quote as "read as".
"""

from __future__ import annotations

from . import nodes as n
from .concepts import Vocabulary, default_vocabulary

_TIME = {"hours": "hours", "days": "days", "weeks": "weeks", "months": "months", "years": "years"}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _dur(d: n.Duration) -> str:
    return f"{_num(d.amount)} {_TIME[d.unit]}"


def _bound(b: n.Bound) -> str:
    return f"{b.op} {_dur(b.duration)}"


def render(rule: n.Node, vocabulary: Vocabulary | None = None) -> str:
    """The rule in the criteria language, e.g. ``platelet count < 30 10^9/L``."""
    return _Renderer(vocabulary or default_vocabulary()).render(rule, top=True)


class _Renderer:
    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    def name(self, concept: str) -> str:
        """The first synonym (else abbreviation): a name the lexer reads back to this concept."""
        if concept not in self.vocab:
            return concept
        c = self.vocab[concept]
        return (c.synonyms or c.abbreviations or (c.display,))[0]

    def render(self, rule: n.Node, top: bool = False) -> str:
        method = getattr(self, "r_" + type(rule).__name__.lower())
        text: str = method(rule)
        compound = isinstance(rule, n.And | n.Or | n.Implies | n.Ambiguous) or (
            isinstance(rule, n.Sex) and len(rule.sexes) > 1
        )
        return text if top or not compound else f"({text})"

    def r_age(self, r: n.Age) -> str:
        if r.op == "between":
            return f"age between {_num(r.value)} and {_num(r.value2 or 0)} {r.unit}"
        return f"age {r.op} {_num(r.value)} {r.unit}"

    def r_sex(self, r: n.Sex) -> str:
        return " or ".join(r.sexes)

    @staticmethod
    def _threshold(r: n.Lab | n.Measurement) -> str:
        if r.relative:
            return f"{r.op} {_num(r.value)} x {r.relative}"
        unit = f" {r.unit}" if r.unit else ""
        if r.op == "between":
            return f"between {_num(r.value)} and {_num(r.value2 or 0)}{unit}"
        return f"{r.op} {_num(r.value)}{unit}"

    def r_measurement(self, r: n.Measurement) -> str:
        name = r.name.replace("{", "(").replace("}", ")")
        return f"{{{name}}} {self._threshold(r)}"

    def r_lab(self, r: n.Lab) -> str:
        body = f"{self.name(r.concept)} {self._threshold(r)}"
        if r.lookback_days is not None:
            body += f" within {r.lookback_days} days"
        return body

    def r_labresult(self, r: n.LabResult) -> str:
        body = f"{self.name(r.concept)} {r.result}"
        if r.lookback_days is not None:
            body += f" within {r.lookback_days} days"
        return body

    def _event(self, concept: str, excluding: tuple[str, ...], history: bool) -> str:
        text = ("history of " if history else "") + self.name(concept)
        if excluding:
            text += " other than " + " or ".join(self.name(e) for e in excluding)
        return text

    def r_condition(self, r: n.Condition) -> str:
        text = self._event(r.concept, r.excluding, r.timing == "history")
        if r.duration:
            text += f" for {_bound(r.duration)}"
        if r.within:
            text += f" within {_dur(r.within)}"
        return text

    def r_medication(self, r: n.Medication) -> str:
        text = self._event(r.concept, r.excluding, r.timing == "history")
        if r.consecutive_days and r.consecutive_days.duration.unit == "days":
            text += f" for {r.consecutive_days.op} {_num(r.consecutive_days.duration.amount)} consecutive days"
        elif r.consecutive_days:
            text += f" for {_bound(r.consecutive_days)}"
        if r.within:
            text += f" within {_dur(r.within)}"
        return text

    def r_stabledose(self, r: n.StableDose) -> str:
        return f"stable {self.name(r.concept)} for at least {_dur(r.duration)}"

    def r_allergy(self, r: n.Allergy) -> str:
        what = "allergy" if r.reaction == "allergy" else "allergy or intolerance"
        return f"{'history of ' if r.timing == 'history' else ''}{what} to {self.name(r.concept)}"

    def r_procedure(self, r: n.Procedure) -> str:
        text = self._event(r.concept, r.excluding, False)
        if r.within:
            text += f" within {_dur(r.within)}"
        return text

    def r_and(self, r: n.And) -> str:
        return " and ".join(self.render(i) for i in r.items)

    def r_or(self, r: n.Or) -> str:
        return " or ".join(self.render(i) for i in r.items)

    def r_not(self, r: n.Not) -> str:
        inner = self.render(r.item)
        return f"not {inner}" if inner.startswith("(") else f"not ({inner})"

    def r_implies(self, r: n.Implies) -> str:
        return f"if {self.render(r.condition)}, {self.render(r.then)}"

    def r_ambiguous(self, r: n.Ambiguous) -> str:
        options = " | ".join(self.render(i, top=True) for i in r.readings)
        return "{" + _clean(f"ambiguous ({r.reason}): {options}") + "}"

    def r_unparsed(self, r: n.Unparsed) -> str:
        return "{" + _clean(r.text) + "}"


def _clean(text: str) -> str:
    return " ".join(text.replace("{", "(").replace("}", ")").split())
