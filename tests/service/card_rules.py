"""The CDS Hooks 2.0 card rules as a checker the service tests run on every card they receive.

Written from the specification's "CDS Service Response" section, not from the service's code: required
fields and their types, summary under 140 characters, an allowed indicator, a source with a label, links
with a label, an absolute URL and type absolute or smart, Codings with code and display, no field sent as
null, and selectionBehavior exactly when there are suggestions.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

INDICATORS = {"info", "warning", "critical"}


def _nulls(value: Any, path: str) -> list[str]:
    if value is None:
        return [f"{path} is null (leave optional fields out)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


def card_problems(card: Any) -> list[str]:
    if not isinstance(card, dict):
        return ["a card is not an object"]
    problems = _nulls(card, "card")
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems.append("summary is required")
    elif len(summary) >= 140:
        problems.append(f"summary has {len(summary)} characters (must be under 140)")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"indicator {card.get('indicator')!r} is not one of {sorted(INDICATORS)}")
    source = card.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("label"), str) or not source["label"]:
        problems.append("source.label is required")
    elif "url" in source and urlsplit(source["url"]).scheme not in ("http", "https"):
        problems.append("source.url must be absolute")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append("detail must be a (markdown) string")
    if "uuid" in card and not isinstance(card["uuid"], str):
        problems.append("uuid must be a string")
    for i, link in enumerate(card.get("links", [])):
        if not isinstance(link, dict) or not link.get("label") or not link.get("url"):
            problems.append(f"links[{i}] needs label and url")
            continue
        if link.get("type") not in ("absolute", "smart"):
            problems.append(f"links[{i}].type must be absolute or smart")
        if link.get("type") == "absolute" and urlsplit(link["url"]).scheme not in ("http", "https"):
            problems.append(f"links[{i}].url must be an absolute URL")
    for i, coding in enumerate(card.get("overrideReasons", [])):
        if not isinstance(coding, dict) or not coding.get("code") or not coding.get("display"):
            problems.append(f"overrideReasons[{i}] must be a Coding with code and display")
    if ("suggestions" in card) != ("selectionBehavior" in card):
        problems.append("selectionBehavior goes with suggestions, and only with them")
    return problems


def response_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ["the response must be an object with a cards array"]
    return [p for card in body["cards"] for p in card_problems(card)]
