"""Readers for external trial formats (ClinicalTrials.gov records, plain-text criteria documents)."""
