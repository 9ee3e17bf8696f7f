"""eligibility: pre-screen patients for clinical trials, explainably."""

__version__ = "0.1.0"
