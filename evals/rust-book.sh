#!/usr/bin/env bash
# Writes the corpus of evals/rust-book.jsonl: 12 chapters of "The Rust Programming Language" as the HTML pages
# rustup installs (mdBook output: every page carries the whole book's sidebar, a menu bar and scripts), a kind of
# web page unlike docs/ and the seeds. The pages come from this machine's Rust toolchain, so the corpus is not in
# the repo and the set is not gated in CI; the questions were written against the book shipped with rustc 1.95.
#   bash evals/rust-book.sh /tmp/rust-book && qa eval evals/rust-book.jsonl --docs /tmp/rust-book --baseline
set -euo pipefail
out=${1:?usage: bash evals/rust-book.sh OUT_DIR}
sysroot=$(rustc --print sysroot 2>/dev/null) || { echo "no rustc: install Rust (rustup) to get the book" >&2; exit 1; }
book="$sysroot/share/doc/rust/html/book"
[ -d "$book" ] || { echo "no book at $book: rustup component add rust-docs" >&2; exit 1; }
mkdir -p "$out"
for page in ch03-01-variables-and-mutability ch03-02-data-types ch03-03-how-functions-work ch03-05-control-flow \
  ch04-01-what-is-ownership ch04-02-references-and-borrowing ch04-03-slices ch08-01-vectors ch08-02-strings \
  ch08-03-hash-maps ch09-02-recoverable-errors-with-result ch10-03-lifetime-syntax; do
  cp "$book/$page.html" "$out/"
done
echo "wrote $(ls "$out" | wc -l) pages to $out"
