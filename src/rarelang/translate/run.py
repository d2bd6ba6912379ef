"""Run the translate stage: cache lookups, batched teacher calls for the misses, parsing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ..languages import canonical_language
from ..schema import REJECTS, TRANSLATIONS, frame_from_records
from .backends import CacheOnlyBackend, TeacherBackend, make_backend
from .cache import ResponseCache, cache_key
from .parse import ParseReject, parse_response
from .prompts import TEMPLATE_VERSION, build_messages

log = logging.getLogger(__name__)


@dataclass
class TranslateStats:
    requests: int = 0
    cache_hits: int = 0
    generated: int = 0
    teacher_errors: int = 0
    parsed: int = 0
    prompt_from_question: int = 0
    rejected: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def seed_passthrough(problems: pd.DataFrame, languages: list[str]) -> pd.DataFrame:
    rows = [{"task_id": r.task_id, "lang": r.seed_lang, "prompt": r.seed_prompt, "solution": r.seed_solution,
             "tests": r.seed_tests, "source": r.source, "teacher": "seed", "cache_key": "",
             "prompt_origin": "seed"}
            for r in problems.itertuples(index=False) if r.seed_lang in languages]
    return frame_from_records(rows, TRANSLATIONS)


def run_translate(problems: pd.DataFrame, params: dict[str, Any], repo: Path, *,
                  backend: TeacherBackend | None = None, progress: bool = True
                  ) -> tuple[pd.DataFrame, pd.DataFrame, TranslateStats]:
    languages = [canonical_language(x) for x in (params.get("data") or {}).get("languages", ["julia", "r"])]
    stats = TranslateStats()
    if problems["seed_lang"].notna().any():
        out = seed_passthrough(problems, languages)
        stats.requests = stats.parsed = len(out)
        return out, frame_from_records([], REJECTS), stats

    tp = params.get("translate") or {}
    cache = ResponseCache(repo / tp.get("cache_path", "data/cache/translate.jsonl"))
    owned = backend is None
    backend = backend or make_backend(tp, repo)
    key_backend = backend.replay_backend if isinstance(backend, CacheOnlyBackend) else backend.name
    sampling = backend.sampling()
    requests = []
    for r in problems.itertuples(index=False):
        for lang in languages:
            messages = build_messages(lang, r.question, list(r.test_cases), r.entry_point)
            key = cache_key(backend=key_backend, model=backend.model, template_version=TEMPLATE_VERSION,
                            sampling=sampling, messages=messages)
            requests.append((r, lang, messages, key))
    stats.requests = len(requests)
    misses = [q for q in requests if q[3] not in cache]
    stats.cache_hits = len(requests) - len(misses)
    errors: dict[str, str] = {}
    batch_size = max(1, int(tp.get("batch_size", 8)))
    try:
        bar = tqdm(total=len(misses), desc=f"translate ({backend.name})", unit="req", disable=not progress)
        for i in range(0, len(misses), batch_size):
            batch = misses[i:i + batch_size]
            try:
                texts = backend.generate([q[2] for q in batch])
            except LookupError as e:
                for q in batch:
                    errors[q[3]] = f"teacher: {e}"
                bar.update(len(batch))
                continue
            except Exception as e:  # a failed call is retried by the next run (nothing cached)
                log.error("teacher call failed for %d request(s): %s", len(batch), e)
                for q in batch:
                    errors[q[3]] = f"teacher error: {type(e).__name__}: {e}"[:300]
                stats.teacher_errors += len(batch)
                bar.update(len(batch))
                continue
            for q, text in zip(batch, texts):
                cache.put(q[3], text, task_id=q[0].task_id, lang=q[1], backend=key_backend,
                          model=backend.model, template=TEMPLATE_VERSION)
            stats.generated += len(batch)
            bar.update(len(batch))
        bar.close()
    finally:
        if owned:
            backend.close()

    good, bad = [], []
    for r, lang, _, key in requests:
        text = cache.get(key)
        if text is None:
            reason = errors.get(key, "no response")
            bad.append({"task_id": r.task_id, "lang": lang, "reason": reason, "response": "", "cache_key": key})
            continue
        try:
            p = parse_response(text, lang, r.entry_point, r.question)
        except ParseReject as e:
            bad.append({"task_id": r.task_id, "lang": lang, "reason": str(e), "response": text, "cache_key": key})
            continue
        good.append({"task_id": r.task_id, "lang": lang, "prompt": p.prompt, "solution": p.solution,
                     "tests": p.tests, "source": r.source, "teacher": f"{key_backend}:{backend.model}",
                     "cache_key": key, "prompt_origin": p.prompt_origin})
    stats.parsed, stats.rejected = len(good), len(bad)
    stats.prompt_from_question = sum(1 for g in good if g["prompt_origin"] == "question")
    for b in bad:
        reason = b["reason"].split(":")[0] if b["reason"].startswith("teacher") else b["reason"]
        stats.by_reason[reason] = stats.by_reason.get(reason, 0) + 1
    return frame_from_records(good, TRANSLATIONS), frame_from_records(bad, REJECTS), stats
