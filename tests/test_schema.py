import pandas as pd
import pytest

from rarelang.schema import SchemaError, check_frame, frame_from_records, read_table, write_table


def _row(**kw):
    r = {"task_id": "t1", "lang": "julia", "prompt": "p", "solution": "s", "tests": "t", "source": "x"}
    r.update(kw)
    return r


def test_round_trip(tmp_path):
    df = frame_from_records([_row(), _row(task_id="t2", lang="r")], "processed")
    write_table(df, tmp_path / "a.parquet", "processed")
    back = read_table(tmp_path / "a.parquet", "processed")
    assert list(back["lang"]) == ["julia", "r"]


def test_missing_columns_are_named():
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['tests'\]"):
        check_frame(pd.DataFrame([_row()]).drop(columns=["tests"]), "processed")


def test_empty_input_is_an_error_unless_allowed():
    with pytest.raises(SchemaError, match="empty"):
        check_frame(frame_from_records([], "processed"), "processed")
    assert check_frame(frame_from_records([], "processed"), "processed", allow_empty=True).empty


def test_unknown_language():
    with pytest.raises(SchemaError, match="unknown language"):
        check_frame(pd.DataFrame([_row(lang="cobol")]), "processed")


def test_blank_required_field():
    with pytest.raises(SchemaError, match="empty 'solution'"):
        check_frame(pd.DataFrame([_row(solution="  ")]), "processed")


def test_missing_file_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        read_table(tmp_path / "nope.parquet", "processed")
