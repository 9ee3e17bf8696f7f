"""Card building as a property: any ranked match list gives cards that keep the CDS Hooks card rules."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.api import CriterionResult, ScreeningResult
from eligibility.library import Match
from eligibility.service.cards import CardOptions, build_cards, summary_line

from .card_rules import card_problems

_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=300)


@st.composite
def matches(draw: st.DrawFn) -> Match:
    verdict = draw(st.sampled_from(["eligible", "ineligible", "needs-review"]))
    n = draw(st.integers(0, 6))
    status = {"eligible": "pass", "ineligible": "fail", "needs-review": "unknown"}[verdict]
    criteria = [
        CriterionResult(
            id=f"C{i}",
            kind=draw(st.sampled_from(["inclusion", "exclusion"])),
            text=draw(_text),
            status=status,
            explanation="because",
            evidence=[],
            missing=draw(st.lists(_text, max_size=2)),
            rule="review",
        )
        for i in range(n)
    ]
    trial = draw(st.from_regex(r"NCT[0-9]{8}", fullmatch=True))
    result = ScreeningResult(trial=trial, patient="p", as_of=date(2026, 1, 1), verdict=verdict, criteria=criteria)
    return Match(
        trial=trial,
        title=draw(_text),
        verdict=verdict,
        open_questions=n if verdict == "needs-review" else 0,
        deciding=[c.id for c in criteria],
        result=result,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(matches(), max_size=12),
    st.lists(_text, max_size=3),
    st.sets(st.sampled_from(["condition", "medication", "procedure", "allergy"])),
    st.sampled_from([None, "https://ws.example/a"]),
    st.sampled_from([None, "https://ws.example/launch"]),
)
def test_cards_keep_the_rules(
    ms: list[Match], gaps: list[str], open_kinds: set[str], worksheet: str | None, smart: str | None
) -> None:
    issued = build_cards(
        ms,
        patient_id="p-1",
        gaps=gaps,
        open_kinds=open_kinds,
        screened=len(ms),
        suppressed=0,
        opts=CardOptions(worksheet_url=worksheet, max_trials=5, max_questions=3, smart_launch_url=smart),
    )
    fitting = [m for m in ms if m.verdict != "ineligible"]
    if not fitting:
        assert issued == []
        return
    summary, *per_trial = issued
    shown = tuple(m.trial for m in fitting[:5])
    assert summary.trials == shown
    # one card per listed trial beside the summary, so each can be dismissed alone; none for a single trial
    assert [item.trials for item in per_trial] == ([(t,) for t in shown] if len(shown) > 1 else [])
    for item in issued:
        assert card_problems(item.card) == []
        assert ("links" in item.card) == (worksheet is not None or smart is not None)
        links = item.card.get("links", [])
        assert len(links) == len(item.trials) * ((worksheet is not None) + (smart is not None))
        for m in fitting[:5]:
            if m.trial in item.trials:
                assert m.trial in item.card["detail"]
        assert ("was not taken to mean it is absent" in item.card["detail"]) == bool(open_kinds)
    assert len({item.card["uuid"] for item in issued}) == len(issued)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**9), st.booleans())
def test_summary_is_always_under_140(eligible: int, review: int, answers: int, incomplete: bool) -> None:
    class M:
        def __init__(self, verdict: str, q: int) -> None:
            self.verdict, self.open_questions = verdict, q

    fitting = [M("eligible", 0)] * min(eligible, 50) + [M("needs-review", answers)] * min(review, 50)
    if not fitting:
        return
    line = summary_line(fitting, incomplete)  # type: ignore[arg-type]
    assert 0 < len(line) < 140
    assert line.startswith(f"{len(fitting)} trial")


def test_summary_wording() -> None:
    class M:
        def __init__(self, verdict: str, q: int) -> None:
            self.verdict, self.open_questions = verdict, q

    table = [
        ([M("eligible", 0)], False, "1 trial may fit (1 eligible)"),
        (
            [M("eligible", 0), M("needs-review", 1), M("needs-review", 3)],
            False,
            "3 trials may fit (1 eligible, 2 need 4 answers)",
        ),
        ([M("needs-review", 1)], True, "1 trial may fit (1 needs 1 answer); chart incomplete"),
    ]
    for fitting, incomplete, expected in table:
        assert summary_line(fitting, incomplete) == expected  # type: ignore[arg-type]
