"""eligibility: pre-screen patients for clinical trials, explainably.

Compile once, screen many::

    from eligibility import load_trial, load_patient, screen
    result = screen(load_trial("NCT06352281"), load_patient("examples/patient-eligible.json"))
    print(result.model_dump_json(indent=2))
"""

from .api import ScreeningResult, load_patient, screen
from .library import LibraryTrial, Match, Question, TrialCoverage, TrialLibrary, questions
from .trial import Trial, load_trial

__all__ = [
    "LibraryTrial",
    "Match",
    "Question",
    "ScreeningResult",
    "Trial",
    "TrialCoverage",
    "TrialLibrary",
    "load_patient",
    "load_trial",
    "questions",
    "screen",
]
__version__ = "0.1.0"
