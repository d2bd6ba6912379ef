"""`rarelang export`: adapter + base → merged transformers folder → GGUF (f16, Q4_K_M) by llama.cpp's own converter
and quantizer → loaded by llama.cpp (llama-cpp-python), answering greedily as the merged model does.

A tiny random Qwen2 model with Qwen2's real tokenizer (the vocabulary llama.cpp ships for its tokenizer tests, from
the same source distribution as the converter) and a LoRA adapter with non-zero weights: the GGUF must follow the
merged model, not the base. llama-cpp-python must be installed (`make setup`): a missing one fails, not skips."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rarelang.cli import main
from rarelang.export.agreement import check_prompts, gguf_answers, transformers_answers
from rarelang.export.llamacpp import tools_dir
from rarelang.params import repo_root

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_tiny_lora, build_tiny_qwen2  # noqa: E402

TOKENS = 16


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    tools = tools_dir(repo_root() / "models" / "llama.cpp")
    base = build_tiny_qwen2(tmp / "base", tools / "models" / "ggml-vocab-qwen2.gguf")
    adapter = build_tiny_lora(base, tmp / "adapter")
    out = tmp / "out"
    assert main(["export", "--adapter", str(adapter), "--model", str(base), "-o", str(out), "--name", "tiny",
                 "--check-tokens", str(TOKENS), "-q"]) == 0
    return base, adapter, out


def test_the_export_writes_a_merged_folder_and_gguf_files(exported):
    import gguf
    _, _, out = exported
    rec = json.loads((out / "export.json").read_text())
    assert (out / "merged" / "config.json").exists() and list((out / "merged").glob("*.safetensors"))
    assert set(rec["files"]) == {"f16", "Q4_K_M"}
    f16, q4 = out / "tiny-f16.gguf", out / "tiny-Q4_K_M.gguf"
    for f in (f16, q4):
        assert f.read_bytes()[:4] == b"GGUF" and rec["files"]["f16" if f == f16 else "Q4_K_M"]["bytes"] == f.stat().st_size
    types = {f: gguf.GGUFReader(f).fields["general.file_type"].contents() for f in (f16, q4)}
    assert types == {f16: 1, q4: 15}          # llama.cpp's LLAMA_FTYPE_MOSTLY_F16, LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert q4.stat().st_size < f16.stat().st_size


def _logits(model_dir: Path, ids: list[int]):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def test_the_f16_gguf_answers_as_the_merged_model_does_and_not_as_the_base(exported):
    import numpy as np
    from llama_cpp import Llama
    from transformers import AutoTokenizer
    base, _, out = exported
    rec = json.loads((out / "export.json").read_text())
    prompts = check_prompts()
    merged = transformers_answers(out / "merged", prompts, TOKENS)
    assert rec["check"]["answers"]["transformers"] == merged and all(merged)
    assert rec["check"]["f16"]["identical"] == len(prompts) == 4, rec["check"]["f16"]
    assert gguf_answers(out / "tiny-f16.gguf", prompts, TOKENS) == merged          # loaded again here
    assert 0 <= rec["check"]["Q4_K_M"]["identical"] <= 4                          # reported, whatever it is
    # logits at every position of a prompt and its answer: llama.cpp's f16 file is the merged model (up to f16
    # arithmetic), and the merged model is not the base (the adapter's weights are in it)
    tok = AutoTokenizer.from_pretrained(out / "merged")
    text = tok.apply_chat_template([{"role": "user", "content": prompts[0]}], add_generation_prompt=True,
                                   tokenize=False) + merged[0]
    ids = tok(text)["input_ids"]
    llm = Llama(str(out / "tiny-f16.gguf"), logits_all=True, n_ctx=512, verbose=False)
    try:
        llm.eval(ids)
        from_gguf = np.array(llm.scores[:len(ids)])
    finally:
        llm.close()
    want, before = _logits(out / "merged", ids), _logits(base, ids)
    gguf_error = np.abs(from_gguf - want).max(axis=1)
    adapter_effect = np.abs(before - want).max(axis=1)
    assert gguf_error.max() < 0.1 and adapter_effect.min() > 0.5, (gguf_error.max(), adapter_effect.min())
    assert (from_gguf.argmax(axis=1) == want.argmax(axis=1)).all()


def test_a_second_export_reuses_what_is_whole(exported, capsys, monkeypatch):
    import rarelang.export.agreement as agreement
    _, adapter, out = exported
    stamps = {f: f.stat().st_mtime_ns for f in out.glob("*.gguf")}
    before = json.loads((out / "export.json").read_text())
    asked = []
    real_gguf_answers = agreement.gguf_answers

    def no_transformers(*a, **k):
        raise AssertionError("the merged model's answers were asked again")

    def counted(path, *a, **k):
        asked.append(Path(path).name)
        return real_gguf_answers(path, *a, **k)
    monkeypatch.setattr(agreement, "transformers_answers", no_transformers)
    monkeypatch.setattr(agreement, "gguf_answers", counted)
    # one more quantization: only it is made and checked; the rest, and the check's answers, are kept
    assert main(["export", "--adapter", str(adapter), "--model", str(exported[0]), "-o", str(out), "--name", "tiny",
                 "--quant", "Q4_K_M", "--quant", "Q8_0", "--check-tokens", str(TOKENS)]) == 0
    assert "already" in capsys.readouterr().err
    assert {f: f.stat().st_mtime_ns for f in out.glob("*.gguf") if f in stamps} == stamps
    assert asked == ["tiny-Q8_0.gguf"]
    after = json.loads((out / "export.json").read_text())
    assert set(after["files"]) == {"f16", "Q4_K_M", "Q8_0"} and after["check"]["Q8_0"]["prompts"] == 4
    assert after["check"]["f16"] == before["check"]["f16"]


def test_solve_runs_on_the_exported_gguf_through_llama_cpp(exported, tmp_path):
    _, _, out = exported
    tests = tmp_path / "t.jl"
    tests.write_text("using Test\n@test f(1) == 12345\n")
    res = tmp_path / "r.json"
    code = main(["solve", "--engine", "local", "--model", str(out / "tiny-Q4_K_M.gguf"), "--lang", "julia",
                 "--prompt", "Add one.", "--tests", str(tests), "-n", "2", "--max-tokens", "8", "--json", "-q",
                 "--workers", "1"])
    assert code == 1


def test_bad_quantization_names_say_what_llama_cpp_knows(exported, tmp_path):
    from rarelang.export.llamacpp import quantize
    with pytest.raises(ValueError, match="Q4_K_M"):
        quantize(exported[2] / "tiny-f16.gguf", tmp_path / "x.gguf", "Q3_X_Z")
