#!/usr/bin/env bash
# Multi-node SASRec training; run the same script on every node of the job.
# Needs: NNODES, NPROC_PER_NODE, HEAD_NODE; CLICKS and OUT on storage every node sees.
set -euo pipefail
: "${NNODES:?}" "${NPROC_PER_NODE:?}" "${HEAD_NODE:?}" "${CLICKS:?}" "${OUT:?}"
exec torchrun \
  --nnodes="$NNODES" --nproc_per_node="$NPROC_PER_NODE" \
  --rdzv_backend=c10d --rdzv_endpoint="$HEAD_NODE:29500" --rdzv_id="sasrec-${RUN_ID:-$(date +%s)}" \
  -m training.sasrec.train \
  --clicks "$CLICKS" --out "$OUT" --state "${OUT%.pt}-state.pt" --resume "$@"
