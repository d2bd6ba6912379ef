# Source this on the GPU machine (every scripts/device/*.sh does): the environment the verified stack ran under.
#   . scripts/device/env.sh
. scripts/device/profile.sh
export PATH="/usr/local/bin:$PATH"
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
# Unsloth (install.sh unsloth), after the main stack so it never shadows it
[ -d $SITE_UNSLOTH/site ] && export PYTHONPATH="$PYTHONPATH:$SITE_UNSLOTH/site"
export UNSLOTH_COMPILE_LOCATION=$STAGE/unsloth_compiled_cache
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
# no network there: nothing may try a hub; flashinfer is not carried (requirements/device.lock)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 DO_NOT_TRACK=1
export VLLM_USE_FLASHINFER_SAMPLER=0 VLLM_NO_USAGE_STATS=1
# vLLM forks its engine process unless it sees CUDA initialised; a bare torch.cuda.is_available()
# (backend: auto) leaves the parent in a state a fork cannot use ("Cannot re-initialize CUDA in forked
# subprocess", seen with scripts/evaluate.py): always spawn
export VLLM_WORKER_MULTIPROC_METHOD=spawn
# NVLink multicast stays off on the lent machines (their notes say why), also for child processes
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
