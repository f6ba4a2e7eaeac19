#!/usr/bin/env bash
# The CUDA paths of the command line, on a GPU machine with torch installed (run from the repository
# root; platformdirs as a wheel in .whl/ where it is missing): the convention tests with the CUDA test
# unskipped, training the seed pairs on CUDA in fp32, bf16 and fp16, then translate, evaluate and
# attend with --device cuda and auto. Prints what it saw; the attention picture goes to $OUT.
set -uo pipefail
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD S2S_CACHE_DIR=/tmp/s2s-cache PYTHONUNBUFFERED=1
S2S="python3 -m seq2seq_cli"
python3 -c "import torch, typer; print('torch', torch.__version__, 'typer', typer.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
python3 -m pytest -q -p no:cacheprovider -rs tests/test_conventions.py tests/test_old_runs.py 2>&1 | tail -12
for precision in fp32 bf16 fp16; do
  echo "== train on cuda, $precision"
  $S2S train -c configs/seed.yaml --set train.runs_dir=/tmp/runs/$precision --set train.device=cuda \
    --set train.precision=$precision 2>&1 | tail -1
  $S2S translate -r /tmp/runs/$precision/seed --device cuda "i am a student"
  $S2S translate -r /tmp/runs/$precision/seed --device cuda "she is a doctor"
done
echo "== evaluate --device cuda --batch-size 2 --json"
$S2S evaluate -r /tmp/runs/fp32/seed --data data/seed.tsv --device cuda --batch-size 2 --json | head -c 400; echo
echo "== the same on the cpu"
$S2S evaluate -r /tmp/runs/fp32/seed --data data/seed.tsv --device cpu --json | head -c 200; echo
echo "== attend --device cuda, n-best with --device auto"
$S2S attend -r /tmp/runs/fp32/seed --device cuda -o "${OUT:-/tmp}/attention-cuda.png" "i am a student"
$S2S translate -r /tmp/runs/fp32/seed --device auto --beam 3 --nbest 2 "he is a teacher"
echo "== interrupted on cuda, then resumed"
timeout -s INT 30 $S2S train -c configs/default.yaml --set train.runs_dir=/tmp/runs/int --set train.device=cuda \
  --set train.epochs=4 2>&1 | tail -2
$S2S train --resume -r /tmp/runs/int/default 2>&1 | tail -2
$S2S translate -r /tmp/runs/int/default --device cuda "the red car is small"
