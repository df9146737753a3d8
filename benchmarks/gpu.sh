#!/usr/bin/env bash
# GPU checks in one prepared, time-boxed script, for a CUDA machine that has torch but no network
# (the device machine of a lent GPU): the CUDA tests, the speed table on CUDA, then Gowalla cells
# at the paper protocol while time is left. Everything it writes goes under $OUT.
#
#   bash benchmarks/gpu.sh DATA_DIR [SECONDS]
#
# DATA_DIR holds the prepared benchmarks (python -m recbole_losses.prepare ... --data_path=DATA_DIR;
# gowalla at least); SECONDS (default 540) bounds the whole script. RecBole and the small packages
# it imports are pure Python: where python3 lacks them, install them beforehand into .gpu-deps on a
# machine with the network, and carry that folder along:
#   pip install --target .gpu-deps --no-deps recbole==1.2.1 colorlog colorama texttable tabulate thop optuna
# Each Gowalla cell resumes from its last epoch when the script runs again with the same $OUT
# (compare.py cells use resume_checkpoint=last); a cell cut by the time limit is listed in the log.
set -uo pipefail
DATA=${1:?usage: bash benchmarks/gpu.sh DATA_DIR [SECONDS]}
BUDGET=${2:-540}
OUT=${OUT:-gpu-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[ -d .gpu-deps ] && export PYTHONPATH="$PYTHONPATH:$PWD/.gpu-deps"
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
step() {  # step NAME COMMAND...: run while time is left, output to $OUT/NAME.txt
  local name=$1; shift
  if [ "$(left)" -le 20 ]; then echo "skipped $name: no time left" | tee -a "$OUT/gpu.log"; return; fi
  echo "== $name ($(left) s left)" | tee -a "$OUT/gpu.log"
  timeout --signal=INT --kill-after=20 "$(left)" "$@" >"$OUT/$name.txt" 2>&1
  echo "   exit $? after $(($(date +%s) - start)) s" | tee -a "$OUT/gpu.log"
}
$PY -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/gpu.log"
step cuda-tests $PY -m pytest -q -k cuda tests/test_scoring.py tests/test_graph.py tests/test_sampler.py \
  tests/test_losses_contract.py tests/test_checkpoints.py
step speed-cuda $PY benchmarks/speed.py --device cuda --datasets gowalla --losses SL PSL CW --negs 1000 \
  --steps 20 --data_path "$DATA"
step gowalla-MF $PY benchmarks/compare.py --study=grid --dataset=gowalla --models=MF --losses=CW,PSL,SL@K,SL \
  --stock= --preset=paper --data_path="$DATA" --out="$OUT/gowalla-MF" --no-plots
step gowalla-LightGCN $PY benchmarks/compare.py --study=grid --dataset=gowalla --models=LightGCN \
  --losses=CW,PSL --stock= --preset=paper --data_path="$DATA" --out="$OUT/gowalla-LightGCN" --no-plots
