"""Criterion concepts -> the CDM's own concept ids, through the CDM's vocabulary tables.

A criterion names a concept of ours ('type2_diabetes') whose codes are ICD-10-CM, SNOMED CT, RxNorm,
ATC or LOINC; an OMOP record carries a concept id of the CDM (usually a *standard* SNOMED/RxNorm/LOINC
concept). The two meet in SQL, once per registry:

1. our codes -> the CDM's ``concept`` rows with that vocabulary and code (ICD-10-CM and ATC codes also
   match the CDM codes below them, as ``Vocabulary.concepts_for_code`` does);
2. -> their standard concepts through ``concept_relationship`` 'Maps to';
3. -> every descendant in ``concept_ancestor`` (and drug products of an ingredient through 'RxNorm has
   ing', which CDMs without an ancestor table, such as Synthea27Nj, still hold).

The result, ``omop_map(concept_id, concept)``, says which of our concepts each CDM concept id stands
for. :mod:`.omop` writes it into a record's descriptor (the ``concept`` field, next to the record's
own vocabulary code), so the evaluator's ``Context.matching`` -- and with it the batch compiler --
accepts the record for that concept: no second matcher. A concept id standing for several of our
concepts keeps only the most specific (a member of a group stands for the group too); unrelated ones
each give the record a descriptor. Our codes the CDM does not hold are listed in ``omop_missing``.
"""

from __future__ import annotations

import duckdb

from ..concepts import HIERARCHICAL_SYSTEMS, Vocabulary

# OMOP vocabulary_id -> our system names (others are lower-cased and read as systems we do not know).
VOCABULARY_SYSTEM = {"SNOMED": "snomed", "LOINC": "loinc", "RxNorm": "rxnorm", "ICD10CM": "icd10cm", "ATC": "atc"}
_OURS = {v: k for k, v in VOCABULARY_SYSTEM.items()}


def system_sql(vocabulary_id: str) -> str:
    """SQL: an OMOP vocabulary_id column -> our system name."""
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in VOCABULARY_SYSTEM.items())
    return f"CASE {vocabulary_id} {whens} ELSE lower({vocabulary_id}) END"


def _norm(system: str, code: str) -> str:
    code = code.strip().upper()
    return code.replace(".", "") if system == "icd10cm" else code


def project_codes(vocab: Vocabulary) -> list[tuple[str, str, str]]:
    """(concept, OMOP vocabulary_id, normalised code) for every code of every concept, plus the RxNorm
    products whose ingredients are a concept's codes (``rxnorm_products.yaml``)."""
    rows: set[tuple[str, str, str]] = set()
    for concept in vocab.concepts.values():
        for system, codes in concept.codes.items():
            if system in _OURS:
                rows.update((concept.id, _OURS[system], _norm(system, c)) for c in codes)
    for rxcui in vocab.products:
        for concept_id in vocab.concepts_for_code("rxnorm", rxcui):
            rows.add((concept_id, "RxNorm", rxcui))
    return sorted(rows)


def build_concepts(con: duckdb.DuckDBPyConnection, has_concept: bool) -> None:
    """``omop_concept(concept_id, system, code, name, standard)`` from ``cdm_concept`` (empty without it)."""
    if not has_concept:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE omop_concept (concept_id BIGINT, vocabulary_id VARCHAR, system VARCHAR, "
            "code VARCHAR, code_norm VARCHAR, name VARCHAR, standard VARCHAR)"
        )
        return
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE omop_concept AS
            SELECT concept_id, vocabulary_id, system, code,
                   CASE WHEN system = 'icd10cm' THEN replace(upper(code), '.', '') ELSE upper(code) END AS code_norm,
                   name, standard
            FROM (SELECT TRY_CAST(concept_id AS BIGINT) AS concept_id, trim(vocabulary_id) AS vocabulary_id,
                         {system_sql("trim(vocabulary_id)")} AS system, trim(concept_code) AS code,
                         NULLIF(trim(concept_name), '') AS name, NULLIF(trim(standard_concept), '') AS standard
                  FROM cdm_concept)
            WHERE concept_id IS NOT NULL
            QUALIFY ROW_NUMBER() OVER (PARTITION BY concept_id ORDER BY code) = 1"""
    )


def build_map(
    con: duckdb.DuckDBPyConnection, vocab: Vocabulary, has_relationship: bool, has_ancestor: bool
) -> tuple[int, int]:
    """``omop_map(concept_id, concept)`` and ``omop_missing(concept, vocabulary_id, code)``.

    Returns (CDM concept ids mapped, our codes the CDM does not hold)."""
    con.execute("CREATE OR REPLACE TEMP TABLE omop_pcodes (concept VARCHAR, vocabulary_id VARCHAR, code VARCHAR)")
    con.executemany("INSERT INTO omop_pcodes VALUES (?, ?, ?)", project_codes(vocab))
    prefix = ", ".join(f"'{_OURS[s]}'" for s in sorted(HIERARCHICAL_SYSTEMS))
    # 1. Our codes -> CDM concepts (prefix systems: every prefix of the CDM code, an equi-join).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE omop_src AS
            SELECT DISTINCT p.concept, c.concept_id, p.vocabulary_id, p.code
            FROM omop_pcodes p JOIN omop_concept c ON c.vocabulary_id = p.vocabulary_id AND c.code_norm = p.code
            UNION
            SELECT DISTINCT p.concept, x.concept_id, p.vocabulary_id, p.code
            FROM (SELECT concept_id, vocabulary_id, substr(code_norm, 1, k) AS pre
                  FROM (SELECT concept_id, vocabulary_id, code_norm, unnest(range(1, length(code_norm) + 1)) AS k
                        FROM omop_concept WHERE vocabulary_id IN ({prefix}))) x
            JOIN omop_pcodes p ON p.vocabulary_id = x.vocabulary_id AND p.code = x.pre"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE omop_missing AS
           SELECT concept, vocabulary_id, code FROM omop_pcodes p
           WHERE NOT EXISTS (SELECT 1 FROM omop_src s WHERE s.concept = p.concept AND s.vocabulary_id = p.vocabulary_id
                             AND s.code = p.code)"""
    )
    # 2. -> standard concepts ('Maps to'), 3. -> descendants and ingredient products.
    parts = ["SELECT concept, concept_id FROM omop_src"]
    valid = "(r.invalid_reason IS NULL OR trim(r.invalid_reason) = '')"
    if has_relationship:
        parts.append(
            f"""SELECT s.concept, TRY_CAST(r.concept_id_2 AS BIGINT) FROM omop_src s JOIN cdm_concept_relationship r
                ON TRY_CAST(r.concept_id_1 AS BIGINT) = s.concept_id AND r.relationship_id = 'Maps to' AND {valid}"""
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE omop_std AS {' UNION '.join(parts)}")
    parts = ["SELECT concept, concept_id FROM omop_std"]
    if has_ancestor:
        parts.append(
            """SELECT s.concept, TRY_CAST(a.descendant_concept_id AS BIGINT) FROM omop_std s JOIN cdm_concept_ancestor a
               ON TRY_CAST(a.ancestor_concept_id AS BIGINT) = s.concept_id"""
        )
    if has_relationship:
        parts.append(
            f"""SELECT s.concept, TRY_CAST(r.concept_id_1 AS BIGINT) FROM omop_std s JOIN cdm_concept_relationship r
                ON TRY_CAST(r.concept_id_2 AS BIGINT) = s.concept_id
                AND r.relationship_id = 'RxNorm has ing' AND {valid}"""
        )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE omop_all AS
            SELECT concept_id, list(DISTINCT concept ORDER BY concept) AS concepts
            FROM ({" UNION ".join(parts)}) WHERE concept_id IS NOT NULL AND concept_id <> 0 GROUP BY concept_id"""
    )
    combos = [list(r[0]) for r in con.execute("SELECT DISTINCT concepts FROM omop_all").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE omop_reduce (concepts VARCHAR[], concept VARCHAR)")
    rows = [(combo, c) for combo in combos for c in most_specific(vocab, combo)]
    if rows:
        con.executemany("INSERT INTO omop_reduce VALUES (?, ?)", rows)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE omop_map AS
           SELECT a.concept_id, r.concept FROM omop_all a JOIN omop_reduce r ON a.concepts = r.concepts"""
    )
    mapped = con.execute("SELECT COUNT(DISTINCT concept_id) FROM omop_map").fetchone()
    missing = con.execute("SELECT COUNT(*) FROM omop_missing").fetchone()
    for t in ("omop_pcodes", "omop_src", "omop_std", "omop_all", "omop_reduce"):
        con.execute(f"DROP TABLE {t}")
    return int(mapped[0]) if mapped else 0, int(missing[0]) if missing else 0


def most_specific(vocab: Vocabulary, concepts: list[str]) -> list[str]:
    """Drop a concept when another of the list is one of its members (``Vocabulary.leaf_set``): the
    member already stands for it in ``Context.matching``."""
    keep = []
    for c in concepts:
        inside = vocab.leaf_set(c) if c in vocab else frozenset({c})
        if not any(o != c and o in inside for o in concepts):
            keep.append(c)
    return keep
