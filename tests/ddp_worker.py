"""Run by tests/test_ddp.py under torchrun with 2 CPU processes: two GRPO steps of a
tiny model on gloo, each rank with its own share of the sandbox; writes what it saw per rank."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_train_grpo import _params  # noqa: E402

from rarelang.train.run import train  # noqa: E402


def main() -> None:
    tmp, model_dir, steps, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rank = int(os.environ.get("RANK", 0))
    scratch = tmp / f"scratch-rank{rank}"      # _params writes a data file: never two ranks on one path
    scratch.mkdir(exist_ok=True)
    params = _params(scratch, model_dir, steps)
    params["train"]["data"] = str(tmp / "train.parquet")       # written once by the test, before the launch
    params["train"]["output_root"] = str(tmp / "models")
    params["train"]["results_root"] = str(tmp / "results")
    params["machine"] = {**params.get("machine", {}), "workers": workers, "spare_workers": 0,
                         "sandbox_backend": os.environ.get("RARELANG_TEST_BACKEND", "bwrap")}
    res = train(params, tmp)
    import torch.distributed as td
    (tmp / f"rank{rank}.json").write_text(json.dumps({
        "rank": rank, "world": td.get_world_size() if td.is_initialized() else 1,
        "backend": td.get_backend() if td.is_initialized() else None,
        "workers": res["trainer"]._rl_reward_fn.pool.cfg.n_workers,
        "reward_calls": len(res["reward"].history), "completions": sum(len(c) for c in res["reward"].history),
        "global_step": res["summary"]["global_step"], "resumed_from": res["summary"]["resumed_from"]}))


if __name__ == "__main__":
    main()
