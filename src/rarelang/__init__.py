"""rarelang: teach small code LLMs underrepresented languages (Julia, R) with execution-rewarded RL.

The package holds the shared logic; ``scripts/*.py`` are thin DVC stage entry points over it.
"""

__version__ = "0.1.0"
