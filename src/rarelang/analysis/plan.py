"""The analysis plan: a YAML file, declared before the analysis reads any result, that names every comparison
(its *family*), the endpoints of the goal and their thresholds, the protocol rule, the checkpoint rule and the
multiplicity correction. ``load_plan`` checks it field by field: an unknown key is an error naming the nearest
known one, a missing required key or a value of the wrong kind is an error naming the key."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

CORRECTIONS = ("max-t", "holm", "bonferroni")
PROTOCOLS = ("chat", "completion")
ROLES = ("main", "lever")
SUITES = ("heldout", "humaneval", "mbpp")


class PlanError(ValueError):
    """A plan that cannot be used as written (the message names the key)."""


@dataclass(frozen=True)
class Endpoint:
    suite: str                  # heldout | humaneval | mbpp
    min_diff: float             # the goal's threshold on the paired difference (pass@1 points as a fraction)


@dataclass(frozen=True)
class Goal:
    endpoints: tuple[Endpoint, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Correction:
    method: str                 # max-t (simultaneous, over the shared base answers) | holm | bonferroni
    draws: int                  # bootstrap draws (>= 20,000 wherever a threshold is decided)
    seed: int
    cross_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Test:
    """One trained model tested against its base: a run at one checkpoint."""
    run: str                    # results/headline/<run>/
    label: str                  # its name in the tables ('unified-1.5b-step300' for a second checkpoint)
    checkpoint: int             # the step whose adapter was tested
    base: str                   # a key of Plan.bases
    trained: tuple[str, ...]    # the trained model's completions (parquet paths, repository-relative)
    role: str                   # main | lever (levers and ablations are exploratory)
    family: str
    start_step: int = 0         # a warm start's first own step (validation points before it are another run's)
    what: str = ""              # one line: what the run is (the results index shows it)

    @property
    def validation(self) -> str:
        return f"results/headline/{self.run}/train/validation.csv"


@dataclass(frozen=True)
class Plan:
    name: str
    declared: str               # the date the plan was committed
    seen_before_declared: bool  # True: the results had been seen, so the family is every cell examined
    output: str
    alpha: float
    k: int
    correction: Correction
    raw_ci_draws: int
    protocol_rule: str          # the MultiPL-E protocol the goal's endpoints are read under (both languages)
    checkpoint_rule: str        # validation-best
    goal: Goal
    bases: dict[str, tuple[str, ...]]
    tests: tuple[Test, ...]
    path: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    def test(self, label: str) -> Test:
        for t in self.tests:
            if t.label == label:
                return t
        raise KeyError(label)


def _check_keys(d: Any, known: set[str], required: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise PlanError(f"{where}: expected a mapping, got {type(d).__name__}")
    for k in d:
        if k not in known:
            near = difflib.get_close_matches(str(k), sorted(known), n=1)
            raise PlanError(f"{where}: unknown key {k!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                            + f"; known: {sorted(known)}")
    missing = required - set(d)
    if missing:
        raise PlanError(f"{where}: missing {sorted(missing)}")
    return d


def _typed(value: Any, kind: type | tuple, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PlanError(f"{where}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise PlanError(f"{where}: {value!r} is not one of {list(allowed)}")
    return value


def _paths(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PlanError(f"{where}: expected a non-empty list of paths")
    return tuple(value)


def parse_plan(raw: Any, path: str = "") -> Plan:
    top = {f.name for f in fields(Plan)} - {"path", "raw_ci_draws"} | {"raw_ci", "defaults"}
    d = _check_keys(raw, top, top - {"notes", "defaults"}, path or "plan")
    c = _check_keys(d["correction"], {"method", "draws", "seed", "cross_checks"}, {"method", "draws", "seed"},
                    "correction")
    correction = Correction(_choice(c["method"], CORRECTIONS, "correction.method"),
                            _typed(c["draws"], int, "correction.draws"), _typed(c["seed"], int, "correction.seed"),
                            tuple(_choice(x, CORRECTIONS, "correction.cross_checks") for x in c.get("cross_checks", [])))
    if correction.draws < 20000:
        raise PlanError(f"correction.draws: {correction.draws} < 20,000 (a threshold is decided on these draws)")
    r = _check_keys(d["raw_ci"], {"draws"}, {"draws"}, "raw_ci")
    g = _check_keys(d["goal"], {"endpoints", "languages"}, {"endpoints", "languages"}, "goal")
    endpoints = []
    for i, e in enumerate(g["endpoints"] or []):
        e = _check_keys(e, {"suite", "min_diff"}, {"suite", "min_diff"}, f"goal.endpoints[{i}]")
        endpoints.append(Endpoint(_choice(e["suite"], SUITES, f"goal.endpoints[{i}].suite"),
                                  _typed(e["min_diff"], float, f"goal.endpoints[{i}].min_diff")))
    bases = {str(k): _paths(v, f"bases.{k}") for k, v in _typed(d["bases"], dict, "bases").items()}
    defaults = _check_keys(d.get("defaults") or {}, {"family", "role"}, set(), "defaults")
    tests, labels = [], set()
    test_keys = {f.name for f in fields(Test)}
    for i, t in enumerate(_typed(d["tests"], list, "tests")):
        t = {**defaults, **_check_keys(t, test_keys, {"run", "checkpoint", "base", "trained"}, f"tests[{i}]")}
        where = f"tests[{i}] ({t['run']})"
        if t["base"] not in bases:
            raise PlanError(f"{where}: base {t['base']!r} is not one of bases {sorted(bases)}")
        test = Test(run=_typed(t["run"], str, where), label=str(t.get("label") or t["run"]),
                    checkpoint=_typed(t["checkpoint"], int, f"{where}.checkpoint"), base=t["base"],
                    trained=_paths(t["trained"], f"{where}.trained"),
                    role=_choice(t.get("role", "main"), ROLES, f"{where}.role"),
                    family=_typed(t.get("family"), str, f"{where}.family"),
                    start_step=_typed(t.get("start_step", 0), int, f"{where}.start_step"),
                    what=_typed(t.get("what", ""), str, f"{where}.what"))
        if test.label in labels:
            raise PlanError(f"{where}: label {test.label!r} appears twice")
        labels.add(test.label)
        tests.append(test)
    return Plan(name=_typed(d["name"], str, "name"), declared=str(d["declared"]),
                seen_before_declared=_typed(d["seen_before_declared"], bool, "seen_before_declared"),
                output=_typed(d["output"], str, "output"), alpha=_typed(d["alpha"], float, "alpha"),
                k=_typed(d["k"], int, "k"), correction=correction,
                raw_ci_draws=_typed(r["draws"], int, "raw_ci.draws"),
                protocol_rule=_choice(d["protocol_rule"], PROTOCOLS, "protocol_rule"),
                checkpoint_rule=_choice(d["checkpoint_rule"], ("validation-best",), "checkpoint_rule"),
                goal=Goal(tuple(endpoints), tuple(_typed(g["languages"], list, "goal.languages"))),
                bases=bases, tests=tuple(tests), path=path,
                notes={str(k): str(v) for k, v in (d.get("notes") or {}).items()})


def load_plan(path: str | Path, root: Path | None = None) -> Plan:
    """The plan at ``path`` (relative to ``root`` when given: the plan then names itself by that relative path)."""
    p = Path(path) if root is None or Path(path).is_absolute() else root / path
    if not p.is_file():
        raise PlanError(f"{p}: no such plan file")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise PlanError(f"{p}: not YAML ({e})") from e
    return parse_plan(raw, str(path))


def plan_or_usage_error(ap, root: Path, path: str) -> Plan:
    """A script's plan argument loaded, or the script's usage error naming what is wrong with it."""
    try:
        return load_plan(path, root)
    except PlanError as e:
        ap.error(str(e))
        raise                                       # ap.error exits; for type checkers
