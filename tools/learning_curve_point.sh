#!/bin/bash
# One point of a learning curve (issue 15, part 4): snapshot a training run's checkpoint, export it as
# it would ship (EMA weights, F16), and append its FID, precision and recall at 1000 images, 50 steps of
# a deterministic sampler, seed 0, to a CSV, with the mean training loss of the last 500 steps.
#
#   bash tools/learning_curve_point.sh RUN_FOLDER CSV [SAMPLER] [STEPS]
#
# RUN_FOLDER is a `diffuse train --output` folder (checkpoint/, loss.csv); snapshots and exports go
# to RUN_FOLDER/../snapshots and ../exports. Run it from the package root (the classifier path is
# relative); DIFFUSE names the binary (default .build/release/diffuse).
set -euo pipefail
RUN=$1; CSV=$2; SAMPLER=${3:-euler}; STEPS=${4:-50}
DIFFUSE=${DIFFUSE:-.build/release/diffuse}
NAME=$(basename "$RUN"); ROOT=$(dirname "$RUN")
step_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$1/training.json"; }
mkdir -p "$ROOT/snapshots" "$ROOT/exports"
tmp="$ROOT/snapshots/.copy-$$"; cp -r "$RUN/checkpoint" "$tmp"      # never read a checkpoint being written
step=$(step_of "$tmp"); snap="$ROOT/snapshots/$NAME-step$step"
if [ -d "$snap" ]; then rm -rf "$tmp"; else mv "$tmp" "$snap"; fi
export_dir="$ROOT/exports/$NAME-step$step"
[ -d "$export_dir" ] || "$DIFFUSE" export --checkpoint "$snap" -o "$export_dir" > /dev/null
loss=$(python3 - "$RUN/loss.csv" "$step" <<'PY'
import csv, sys
step = int(sys.argv[2])
last = [float(r['loss']) for r in csv.DictReader(open(sys.argv[1])) if step - 500 < int(r['step']) <= step]
print('%.5f' % (sum(last) / len(last)) if last else '')
PY
)
line=$(nice -n 10 "$DIFFUSE" fid --model "$export_dir" --sampler "$SAMPLER" --steps "$STEPS" --count 1000 2>/dev/null | grep '^FID')
read -r _ fid _ precision _ recall _ <<< "$line"
[ -f "$CSV" ] || echo "model,step,images_seen,loss,sampler,steps,count,fid,precision,recall" > "$CSV"
batch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['configuration']['batchSize'])" "$snap/training.json" 2>/dev/null || echo 64)
echo "$NAME,$step,$((step * batch)),$loss,$SAMPLER,$STEPS,1000,$fid,$precision,$recall" >> "$CSV"
tail -1 "$CSV"
