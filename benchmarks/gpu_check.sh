#!/usr/bin/env bash
# The GPU measurements still owed by the benchmarks, as one prepared run for a session
# that is lent a GPU machine (about 9-11 minutes on an H100 after the start):
#   1. benchmarks.likelihood: diffax vs the scipy host loop on the 8-D mixture and on the
#      Fashion-MNIST U-Net of `make run` (the 20x aim of the likelihood issue);
#   2. benchmarks.samplers: overhead of the samplers added after the first GPU run
#      (S-PNDM, SDE-DPM-Solver++(2M), UniPC), 2-D problem, NFE 10 and 50;
#   3. benchmarks.training: FLOPs per step (XLA cost analysis), step time and MFU against
#      the H100/H200 datasheet peak (bf16 dense 989 TFLOP/s; float32 runs as TF32, 494.5):
#      a DiT-B-sized network (hidden 768, depth 12, 12 heads, 2x2 patches: 196 tokens,
#      about 130M parameters) in bf16 and float32 at batch 256 (issue 19's aim: >= 40% MFU
#      in bf16), then the Fashion-MNIST U-Net and DiT as configured at batch 512 in bf16.
#
# Prepare on the CPU machine (the GPU machine has no network and no Fashion-MNIST):
#   make run                                   # runs/default: the U-Net checkpoint
#   mkdir -p .gpu/fmnist .gpu/wheels && echo /.gpu/ >> .git/info/exclude
#   cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .gpu/fmnist/   # 30 MB; train-* feeds
#                                              # benchmarks.training (64 MiB travel in all)
#   .venv/bin/python -m pip download --no-deps --only-binary=:all: -d .gpu/wheels \
#       ml-collections==1.1.0                  # the one package its image lacks
# and run there from the repository root, carrying .gpu and runs/default:
#   bash benchmarks/gpu_check.sh "$OUT"
# Each step has its own time limit, so one that hangs leaves the others' results.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
if [ -d .gpu/fmnist ]; then
  mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/* /usr/share/datasets/fashion-mnist/
fi
{ nvidia-smi -L; python3 -c "import jax; print(jax.__version__, jax.devices())"; } 2>&1 \
  | tee "$out/device.txt"

timeout 300 python3 -m benchmarks.likelihood --out "$out/likelihood" \
  --workdir runs/default 2>&1 | grep --line-buffered -v -i warn | tee "$out/likelihood.log"
timeout 240 python3 -m benchmarks.samplers --out "$out/samplers" --dims 2 --timing-dims 2 \
  --nfes 10,50 --samplers "s_pndm,sde_dpm_solver++_2m,unipc*,dpm_solver++_2m,ddim" 2>&1 \
  | grep --line-buffered -v -i warn | tee "$out/samplers.log"
timeout 300 python3 -m benchmarks.training --out "$out/training_dit_b" \
  --config configs/image/fashion_mnist_dit.py --batch 256 --compute-dtype bfloat16,float32 \
  --steps 60 --rounds 3 --set model.kwargs.hidden=768 --set model.kwargs.depth=12 \
  --set model.kwargs.heads=12 --set model.kwargs.patch=2 2>&1 \
  | grep --line-buffered -v -i warn | tee "$out/training_dit_b.log"
timeout 200 python3 -m benchmarks.training --out "$out/training" --batch 512 \
  --compute-dtype bfloat16 --steps 100 --rounds 5 2>&1 \
  | grep --line-buffered -v -i warn | tee "$out/training.log"
rm -f "$out"/samplers/reference_*.npy
# At most 8 files come back from the device: the JSONs stay, logs and plots go in one tarball.
(cd "$out" && find . -name '*.log' -o -name '*.png' | tar -czf logs_and_plots.tgz -T - \
  && find . \( -name '*.log' -o -name '*.png' \) -delete)
echo "gpu_check done: $(ls -R "$out" | tr '\n' ' ')"
