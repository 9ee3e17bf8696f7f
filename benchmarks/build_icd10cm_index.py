"""Generate eligibility/data/icd10cm_index.json.gz from the ICD-10-CM tabular list in simple-icd-10-cm.

Run after upgrading simple-icd-10-cm (a test dependency; the package itself ships only the index):

    .venv/bin/python benchmarks/build_icd10cm_index.py

Prints the counts and the file size. See eligibility/terminology.py for what the index holds and why
titles and inclusion terms are kept apart.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import simple_icd_10_cm as icd

from eligibility.terminology import INDEX_FILE, normalise

OUT = Path(__file__).resolve().parents[1] / "eligibility" / "data" / INDEX_FILE

# Title endings that only say the code is the residual one: "X, unspecified" proves X.
_UNSPECIFIED = re.compile(r",?\s*(?:unspecified|not otherwise specified|NOS|not elsewhere classified)\s*$", re.I)
_OTHER = re.compile(r"^other\b", re.I)
_LEADING = re.compile(r"^(?:other specified|other|unspecified)\s+", re.I)


def variants(title: str) -> dict[str, bool]:
    """The phrases a title says exactly -> whether only by dropping a leading 'Other': without its
    'unspecified' residual words, with and without its nonessential (parenthesised) modifiers, and a
    bracketed synonym of the whole title. "Other X" proves X (so a criterion naming X reads it) but a
    record saying X is not an "Other X" (so record text never reads it)."""
    out: dict[str, bool] = {}
    bracket = re.search(r"\s*\[([^\]]+)\]\s*$", title)
    bases = [re.sub(r"\s*\[[^\]]*\]", "", title)]
    if bracket:
        bases.append(bracket.group(1))
    for base in bases:
        for form in (re.sub(r"\s*\([^)]*\)", "", base), base.replace("(", "").replace(")", "")):
            form = _UNSPECIFIED.sub("", form.strip())
            other = bool(_OTHER.match(form))
            form = _LEADING.sub("", form)
            form = _UNSPECIFIED.sub("", form.strip())
            if form and len(form) > 2:
                out[form] = out.get(form, True) and other
    return out


def main() -> int:
    titles: dict[str, list[str]] = {}
    terms: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    # icd.add_dot is a linear search per code: take the dotted forms from the parallel list instead.
    for raw, code in zip(icd.get_all_codes(False), icd.get_all_codes(True), strict=True):
        # Chapters are too broad to name a condition; external causes (V00-Y99) are not conditions;
        # seventh-character extensions (S72.001A ... initial encounter) only add the encounter.
        if icd.is_chapter(raw) or raw[0] in "VWXY" or icd.is_extended_subcategory(raw):
            continue
        title = re.sub(r"\s*\([A-Z0-9.]+-[A-Z0-9.]+\)\s*$", "", icd.get_description(raw))
        codes[code] = title
        for phrase, other in variants(title).items():
            key = normalise(phrase)
            entry = code + "*" * other  # '*': the title says "Other <phrase>"
            if key and entry not in titles.setdefault(key, []):
                titles[key].append(entry)
        if icd.is_block(raw):
            continue
        for term in icd.get_inclusion_term(raw):
            for phrase in variants(term):
                key = normalise(phrase)
                if key and code not in terms.setdefault(key, []):
                    terms[key].append(code)
    data = {"version": "ICD-10-CM April 2026 (simple-icd-10-cm)", "titles": titles, "terms": terms, "codes": codes}
    OUT.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":"), sort_keys=True).encode(), mtime=0))
    print(f"{len(codes)} codes, {len(titles)} title keys, {len(terms)} inclusion-term keys -> {OUT} "
          f"({OUT.stat().st_size / 1e6:.2f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
