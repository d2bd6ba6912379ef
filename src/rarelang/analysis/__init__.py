"""The declared analysis of the headline runs (issue 33): the plan (configs/analysis/*.yaml, plan.py), the cells it
names read from the committed answers (cells.py), the multiplicity correction over the shared base answers
(multiplicity.py), the verdict rule and claims.json (claims.py), the sensitivity re-scorings (sensitivity.py), the
original work beside ours (original.py) and the generated results index (index.py)."""
