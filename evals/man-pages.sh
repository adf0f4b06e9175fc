#!/usr/bin/env bash
# Writes the corpus of evals/man-pages.jsonl: 13 man pages as plain text (hard-wrapped at 100 columns, with
# indented option lists), a kind of text unlike docs/ and the seeds. The pages come from this machine, so the
# corpus is not in the repo and the set is not gated in CI; the questions were written against Debian 12's
# pages (tar 1.34, wget 1.21.3, curl 7.88.1, xz-utils 5.4.1, zstd 1.5.4, OpenSSH 9.2p1).
#   bash evals/man-pages.sh /tmp/man && qa eval evals/man-pages.jsonl --docs /tmp/man --baseline
set -euo pipefail
out=${1:?usage: bash evals/man-pages.sh OUT_DIR}
mkdir -p "$out"
for page in curl diff find grep gzip less make sed ssh tar wget xz zstd; do
  MANWIDTH=100 man -P cat "$page" 2>/dev/null | col -bx >"$out/$page.txt"
  [ -s "$out/$page.txt" ] || { echo "no man page for $page: install it (apt-get install $page)" >&2; exit 1; }
done
echo "wrote $(ls "$out" | wc -l) pages to $out"
