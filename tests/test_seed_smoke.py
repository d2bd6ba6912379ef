"""50 reference solutions from each of the original work's test sets pass in the sandbox."""

import pytest

from rarelang.sandbox import Status
from rarelang.seed import read_seed, seed_dir, seed_jobs


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["r", "julia"])
def test_50_seed_references_pass(pool, lang):
    assert seed_dir().is_dir(), f"seed data not found at {seed_dir()}"
    jobs = seed_jobs(lang, limit=50)
    assert len(jobs) == 50
    outs = pool.run_all(jobs)
    failed = [(j.id, o.status.value, o.message[:200]) for j, o in zip(jobs, outs) if o.status is not Status.PASSED]
    assert not failed, failed
    assert all(o.tests_total >= 1 for o in outs)


def test_seed_reader_explains_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="seed dataset not found"):
        read_seed("r_testset", tmp_path)


def test_seed_reader_checks_columns(tmp_path):
    import pandas as pd
    pd.DataFrame({"task_id": ["a"], "r_code": ["x"]}).to_parquet(tmp_path / "r_testset.parquet")
    with pytest.raises(ValueError, match="r_test"):
        read_seed("r_testset", tmp_path)
