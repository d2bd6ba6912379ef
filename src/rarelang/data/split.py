"""Stage 4: dedup near-identical prompts, remove MultiPL-E contamination, split by source task.

* Split: a row goes to test iff a seeded hash of its *source task id* falls below
  ``test_fraction`` — the same source problem is on one side only, in every language.
* Repeated tasks (per language): a source task translated more than once (the seed import's R
  train and test sets share 330 task ids, translated differently) keeps its first row only,
  so a problem is one problem in pass@k and cannot be trained on twice.
* Dedup (per language): prompts normalized (case, punctuation, whitespace); exact duplicates and
  near duplicates (Jaccard of word 5-gram shingles ≥ threshold, found with MinHash LSH and
  verified exactly) keep only their first row by task id.
* Cross-split duplicates: a test row that shares ≥ ``min_shared_assertions`` identical
  assertions (whitespace-normalised ``@test`` / ``expect_*`` / ``stopifnot`` lines) with a train row
  of the same language, or whose normalised reference solution (comments and whitespace removed)
  equals a train row's, leaves the test set (the held-out set must hold no problem trained on).
* Entry-point decontamination: a row whose entry point (the function its tests call, from the
  reference solution) has the name of a MultiPL-E problem's entry point in the listed benchmarks
  (``decontam_entry_points``, default HumanEval) is removed: HumanEval functions appear in the
  seed data under their own names (``x_or_y``, ``fibfib``, ``will_it_fly``, …) with prompts the
  n-gram filter does not catch.
* Validation (``carve_validation``): source tasks of the train side, ranked by a seeded hash of
  their id, are moved to a validation set until every language has ``per_language`` rows (a task
  leaves train in every language at once, so a unified run never trains on a validation problem in
  the other language). Learning curves and checkpoint choice use it; the test set is touched once.
* Paraphrase duplicates (``paraphrase_inputs``; rarelang.data.decontam): a row whose normalised entry point and
  test inputs equal a listed benchmark problem's is removed like a row named after one, and a test row whose
  normalised entry point and test inputs equal a train row's (any language) leaves the test set.
* Decontamination: a row whose prompt or solution shares a word n-gram (default 13, the GPT-3 convention; 10 already matches boilerplate such as "a function that takes a string as input and returns") with a
  MultiPL-E HumanEval/MBPP prompt (R, Julia or the Python original) is removed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .decontam import Signature, cross_split_paraphrases, paraphrase_hits

_WORD = re.compile(r"[a-z0-9_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(str(text).lower())


def normalize(text: str) -> str:
    return " ".join(words(text))


def shingles(text: str, k: int = 5) -> set[str]:
    w = words(text)
    if len(w) < k:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i:i + k]) for i in range(len(w) - k + 1)}


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def in_test(task_id: str, seed: int, test_fraction: float) -> bool:
    h = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < test_fraction


_P = (1 << 31) - 1   # products of two values below 2**31 fit in uint64


def _minhash(sh: set[str], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not sh:
        return np.zeros(len(a), dtype=np.uint64)
    x = np.fromiter((int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") % _P
                     for s in sh), dtype=np.uint64, count=len(sh))
    return ((a[:, None] * x[None, :] + b[:, None]) % _P).min(axis=1)


def near_duplicates(texts: list[str], threshold: float, seed: int = 0, bands: int = 16, rows: int = 4) -> list[int]:
    """Indices to drop: every text that (nearly) repeats an earlier one."""
    norm = [normalize(t) for t in texts]
    drop: set[int] = set()
    first: dict[str, int] = {}
    for i, t in enumerate(norm):                         # exact duplicates after normalization
        if t in first:
            drop.add(i)
        else:
            first[t] = i
    sh = [shingles(t) for t in norm]
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _P, size=bands * rows, dtype=np.int64).astype(np.uint64)
    b = rng.integers(0, _P, size=bands * rows, dtype=np.int64).astype(np.uint64)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        if i in drop:
            continue
        sig = _minhash(sh[i], a, b)
        for band in range(bands):
            buckets[(band, tuple(sig[band * rows:(band + 1) * rows]))].append(i)
    for members in buckets.values():
        for j_pos, j in enumerate(members):
            if j in drop:
                continue
            for i in members[:j_pos]:
                if i not in drop and jaccard(sh[i], sh[j]) >= threshold:
                    drop.add(j)
                    break
    return sorted(drop)


def load_multipl_e_texts(directory: Path) -> dict[str, list[str]]:
    """Prompts of MultiPL-E problems per suite file (R, Julia prompts and the Python originals)."""
    out: dict[str, list[str]] = {}
    for f in sorted(Path(directory).glob("*.jsonl")):
        texts = []
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    texts += [d.get("prompt", ""), d.get("py_prompt", "")]
        out[f.stem] = [t for t in texts if t]
    if not out:
        raise FileNotFoundError(f"no MultiPL-E *.jsonl in {directory}")
    return out


def contaminated(df: pd.DataFrame, reference: dict[str, list[str]], n: int) -> dict[int, str]:
    """Row positions whose prompt or solution shares a word n-gram with a reference text, and
    the benchmark (humaneval / mbpp) it came from."""
    index: dict[tuple[str, ...], str] = {}
    for suite, texts in reference.items():
        dataset = suite.split("-")[0]          # humaneval-r, humaneval-jl → humaneval
        for t in texts:
            for g in ngrams(t, n):
                index.setdefault(g, dataset)
    hits: dict[int, str] = {}
    for pos, r in enumerate(df.itertuples(index=False)):
        for field in (r.prompt, r.solution):
            g = next((g for g in ngrams(field, n) if g in index), None)
            if g is not None:
                hits[pos] = index[g]
                break
    return hits


_ASSERT = re.compile(r"^\s*(@test\b|@test_throws\b|expect_[a-z_]+\s*\(|stopifnot\s*\()")


def assertions(tests: str) -> set[str]:
    """The test file's assertion lines, whitespace-normalised."""
    return {re.sub(r"\s+", "", ln) for ln in str(tests).splitlines() if _ASSERT.match(ln)}


def normalized_solution(code: str) -> str:
    """The solution without comments and whitespace (comments: ``#`` to the end of a line outside
    a string, approximately)."""
    out = []
    for ln in str(code).splitlines():
        quote = None
        for i, c in enumerate(ln):
            if quote:
                quote = None if c == quote and ln[i - 1] != "\\" else quote
            elif c in "'\"":
                quote = c
            elif c == "#":
                ln = ln[:i]
                break
        out.append(ln)
    return re.sub(r"\s+", "", "\n".join(out))


def cross_split_duplicates(train: pd.DataFrame, test: pd.DataFrame, min_shared: int = 2) -> dict[int, str]:
    """Test row positions that repeat a train problem of the same language, and why
    (``shared_assertions`` | ``same_solution``)."""
    hits: dict[int, str] = {}
    for lang, tg in test.groupby("lang"):
        tr = train[train["lang"] == lang]
        sols = {normalized_solution(s) for s in tr["solution"]}
        owners: dict[str, set[int]] = defaultdict(set)
        for j, t in enumerate(tr["tests"]):
            for a in assertions(t):
                owners[a].add(j)
        for pos, r in zip(tg.index, tg.itertuples(index=False)):
            if normalized_solution(r.solution) in sols:
                hits[pos] = "same_solution"
                continue
            shared: dict[int, int] = defaultdict(int)
            for a in assertions(r.tests):
                for j in owners.get(a, ()):
                    shared[j] += 1
            if shared and max(shared.values()) >= min_shared:
                hits[pos] = "shared_assertions"
    return hits


def load_entry_points(directory: Path, benchmarks: list[str]) -> set[str]:
    """Entry-point names of the MultiPL-E problems of the given benchmarks (humaneval, mbpp)."""
    names: set[str] = set()
    for f in sorted(Path(directory).glob("*.jsonl")):
        if f.stem.split("-")[0] not in benchmarks:
            continue
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    names.add(d.get("entry_point") or d["name"].split("_", 2)[-1])
    return names


def entry_point_hits(df: pd.DataFrame, names: set[str]) -> dict[int, str]:
    """Row positions whose entry point has one of ``names``."""
    from ..languages import get_language
    hits: dict[int, str] = {}
    for pos, r in enumerate(df.itertuples(index=False)):
        found = get_language(r.lang).entry_point(r.solution, r.tests)
        if found and found[0] in names:
            hits[pos] = found[0]
    return hits


def _remove(frame: pd.DataFrame, hits: dict[int, str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """``frame`` without the rows at the positions in ``hits``, and per language the label of each
    row removed (what the report counts)."""
    removed: dict[str, list[str]] = defaultdict(list)
    for pos, label in hits.items():
        removed[frame.loc[pos, "lang"]].append(label)
    return frame.drop(index=list(hits)).reset_index(drop=True), dict(removed)


def split_dataset(df: pd.DataFrame, *, test_fraction: float, seed: int, dedup_threshold: float,
                  decontam_ngram: int, reference: dict[str, list[str]] | None,
                  entry_points: set[str] | None = None, min_shared_assertions: int = 2,
                  benchmark_signatures: list[Signature] | None = None, paraphrase_inputs: int = 0
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    if not 0 < test_fraction < 1:
        raise ValueError(f"split.test_fraction must be in (0, 1), got {test_fraction}")
    df = df.sort_values(["lang", "task_id"], kind="stable").reset_index(drop=True)
    report: dict[str, Any] = {"input_rows": int(len(df)), "per_language": {}}
    keep = ~df.duplicated(["lang", "task_id"], keep="first").to_numpy()
    removed_rep = {lang: int((~keep[g.index.to_numpy()]).sum()) for lang, g in df.groupby("lang", sort=True)}
    removed_dup: dict[str, int] = {}
    for lang, g in df[keep].groupby("lang", sort=True):
        idx = g.index.to_numpy()
        dups = near_duplicates(g["prompt"].tolist(), dedup_threshold, seed)
        keep[idx[dups]] = False
        removed_dup[lang] = len(dups)
    deduped = df[keep].reset_index(drop=True)
    removed_contam: dict[str, list[str]] = {}        # language → the benchmark each removed row matched
    if reference:
        deduped, removed_contam = _remove(deduped, contaminated(deduped, reference, decontam_ngram))
    removed_entry: dict[str, list[str]] = {}         # language → the entry-point name of each removed row
    if entry_points:
        deduped, removed_entry = _remove(deduped, entry_point_hits(deduped, entry_points))
    removed_para: dict[str, list[str]] = {}          # language → the benchmark problem each removed row paraphrases
    if benchmark_signatures and paraphrase_inputs:
        deduped, removed_para = _remove(deduped, paraphrase_hits(deduped, benchmark_signatures, paraphrase_inputs))
    is_test = np.array([in_test(t, seed, test_fraction) for t in deduped["task_id"]], dtype=bool)
    train, test = deduped[~is_test].reset_index(drop=True), deduped[is_test].reset_index(drop=True)
    removed_cross: dict[str, list[str]] = {}         # language → why each removed test row repeats train
    if min_shared_assertions:
        hits = cross_split_duplicates(train, test, min_shared_assertions)
        if paraphrase_inputs:                        # a paraphrase of a train row, in any language
            hits = {**cross_split_paraphrases(train, test, paraphrase_inputs), **hits}
        test, removed_cross = _remove(test, hits)
    leaked = set(train["task_id"]) & set(test["task_id"])
    if leaked:  # cannot happen by construction; checked anyway
        raise AssertionError(f"{len(leaked)} source task(s) on both sides of the split")
    for lang in sorted(df["lang"].unique()):
        report["per_language"][lang] = {
            "input": int((df["lang"] == lang).sum()),
            "repeated_tasks_removed": removed_rep.get(lang, 0),
            "near_duplicates_removed": removed_dup.get(lang, 0),
            "contaminated_removed": dict(Counter(removed_contam.get(lang, []))),
            "entry_point_contaminated_removed": sorted(removed_entry.get(lang, [])),
            "paraphrase_contaminated_removed": sorted(removed_para.get(lang, [])),
            "test_duplicates_of_train_removed": dict(Counter(removed_cross.get(lang, []))),
            "train": int((train["lang"] == lang).sum()), "test": int((test["lang"] == lang).sum())}
    report.update(train_rows=int(len(train)), test_rows=int(len(test)),
                  repeated_tasks_removed=int(sum(removed_rep.values())),
                  near_duplicates_removed=int(sum(removed_dup.values())),
                  contaminated_removed=int(sum(len(v) for v in removed_contam.values())),
                  entry_point_contaminated_removed=int(sum(len(v) for v in removed_entry.values())),
                  paraphrase_contaminated_removed=int(sum(len(v) for v in removed_para.values())),
                  test_duplicates_of_train_removed=int(sum(len(v) for v in removed_cross.values())),
                  decontamination={"ngram": decontam_ngram, "reference": sorted(reference or {}),
                                   "entry_points": len(entry_points or ()),
                                   "min_shared_assertions": min_shared_assertions,
                                   "paraphrase_inputs": paraphrase_inputs},
                  test_fraction=test_fraction, seed=seed)
    return train, test, report


def carve_validation(train: pd.DataFrame, per_language: int, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """(train without the validation tasks, validation rows, validation rows per language). Tasks are
    taken in the order of a seeded hash of their id until each language has ``per_language`` rows or
    has none left; every row of a taken task (any language) goes to validation."""
    if per_language < 0:
        raise ValueError(f"split.validation_per_language must be >= 0, got {per_language}")
    if per_language == 0 or train.empty:
        return train, train.iloc[0:0].copy(), {}
    order = sorted(set(train["task_id"]),
                   key=lambda t: hashlib.sha256(f"validation:{seed}:{t}".encode()).digest())
    langs_of = train.groupby("task_id")["lang"].apply(list).to_dict()
    have: Counter = Counter()
    need = set(train["lang"])
    taken: set[str] = set()
    for t in order:
        if not need:
            break
        if any(lang in need for lang in langs_of[t]):
            taken.add(t)
            have.update(langs_of[t])
            need = {lang for lang in need if have[lang] < per_language}
    is_val = train["task_id"].isin(taken).to_numpy()
    val, rest = train[is_val].reset_index(drop=True), train[~is_val].reset_index(drop=True)
    return rest, val, {lang: int(n) for lang, n in sorted(Counter(val["lang"]).items())}
