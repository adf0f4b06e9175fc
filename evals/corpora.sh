#!/usr/bin/env bash
# Writes the corpus of one of the blind sets evals/python-docs.jsonl, evals/postgres-manual.jsonl,
# evals/debian-handbook.jsonl and evals/gnu-manuals.jsonl: a fixed list of HTML pages from Debian documentation
# packages, flattened into OUT_DIR (a page's folder inside the package becomes a prefix of its name:
# library/json.html -> library-json.html), so the questions' `source` fields are plain file names. Gzipped pages
# (.html.gz) are decompressed.
#   bash evals/corpora.sh python-docs /tmp/python-docs          # python3-doc (3.11.2-1): Sphinx pages
#   bash evals/corpora.sh postgres-manual /tmp/postgres-manual  # postgresql-doc-15 (15.20-0+deb12u1): DocBook pages
#   bash evals/corpora.sh debian-handbook /tmp/debian-handbook  # debian-handbook (11.20220922), en-US: Publican pages
#   bash evals/corpora.sh gnu-manuals /tmp/gnu-manuals          # diffutils-doc (1:3.8-4), gettext-doc (0.21-12): Texinfo
#                                                               # pages, named by manual (diffutils/Invoking-cmp.html ->
#                                                               # diffutils-Invoking-cmp.html)
# then e.g. qa eval evals/python-docs.jsonl --docs /tmp/python-docs
# Installs the packages with apt-get when they are missing (needs root, or sudo, and Debian's package archive).
set -euo pipefail
name=${1:?usage: bash evals/corpora.sh python-docs|postgres-manual|debian-handbook|gnu-manuals OUT_DIR}
out=${2:?usage: bash evals/corpora.sh python-docs|postgres-manual|debian-handbook|gnu-manuals OUT_DIR}

case "$name" in
  python-docs)
    pkgs=(python3-doc)
    roots=(/usr/share/doc/python3-doc/html /usr/share/doc/python3.11-doc/html /usr/share/doc/python3/html)
    pages=(
      tutorial/interpreter tutorial/controlflow tutorial/datastructures tutorial/modules tutorial/inputoutput
      tutorial/errors tutorial/classes tutorial/stdlib tutorial/venv tutorial/floatingpoint
      library/json library/pathlib library/argparse library/datetime library/itertools library/logging
      library/sqlite3 library/functools library/collections library/csv library/shutil library/tempfile
      library/heapq library/bisect library/secrets library/random library/textwrap library/timeit library/gzip
      library/zipfile library/hashlib library/statistics
    )
    ;;
  postgres-manual)
    pkgs=(postgresql-doc-15)
    roots=(/usr/share/doc/postgresql-doc-15/html)
    pages=(
      sql-createtable sql-createindex sql-select sql-insert sql-update sql-delete sql-altertable sql-vacuum
      sql-copy sql-grant sql-truncate sql-analyze sql-createsequence sql-cluster sql-reindex sql-createview
      sql-notify datatype-numeric datatype-character datatype-datetime datatype-json datatype-boolean
      datatype-enum datatype-money indexes-types indexes-multicolumn indexes-partial indexes-unique
      runtime-config-resource runtime-config-connection runtime-config-autovacuum routine-vacuuming
      auth-pg-hba-conf transaction-iso tutorial-window ddl-constraints app-pgdump ddl-partitioning
    )
    ;;
  debian-handbook)
    pkgs=(debian-handbook)
    roots=(/usr/share/doc/debian-handbook/html/en-US)
    pages=(
      sect.apt-get sect.apt-cache sect.manipulating-packages-with-dpkg sect.package-meta-information
      sect.source-package-structure sect.release-lifecycle sect.filesystem-hierarchy sect.config-bootloader
      sect.network-config sect.hostname-name-service sect.user-group-databases sect.creating-accounts
      sect.shell-environment sect.task-scheduling-cron-atd sect.asynchronous-task-scheduling-anacron sect.quotas
      sect.backup sect.syslog sect.inetd sect.firewall-packet-filtering sect.domain-name-servers sect.dhcp
      sect.http-web-server sect.nfs-file-server sect.kernel-compilation sect.apparmor sect.automatic-upgrades
      sect.remote-login
    )
    ;;
  gnu-manuals)
    # Texinfo HTML split by chapter; the one-line pages for other nodes (Brief.html ...) only redirect, so they are
    # left out, as are the indexes, the tables of contents and the licences.
    pkgs=(diffutils-doc gettext-doc)
    roots=(/usr/share/doc)
    pages=(
      diffutils/Overview diffutils/Comparison diffutils/Output-Formats diffutils/Incomplete-Lines
      diffutils/Comparing-Directories diffutils/Adjusting-Output diffutils/diff-Performance
      diffutils/Comparing-Three-Files diffutils/diff3-Merging diffutils/Interactive-Merging
      diffutils/Merging-with-patch diffutils/Making-Patches diffutils/Invoking-cmp diffutils/Invoking-diff
      diffutils/Invoking-diff3 diffutils/Invoking-patch diffutils/Invoking-sdiff diffutils/Standards-conformance
      diffutils/Projects diffutils/Translations
      gettext/gettext_1 gettext/gettext_2 gettext/gettext_3 gettext/gettext_4 gettext/gettext_5 gettext/gettext_6
      gettext/gettext_7 gettext/gettext_8 gettext/gettext_9 gettext/gettext_10 gettext/gettext_11
      gettext/gettext_12 gettext/gettext_13 gettext/gettext_15 gettext/gettext_16 gettext/FAQ gettext/tutorial
      gettext/msgfmt.1 gettext/xgettext.1 gettext/msgmerge.1
    )
    ;;
  *)
    echo "unknown corpus '$name': use python-docs, postgres-manual, debian-handbook or gnu-manuals" >&2
    exit 2
    ;;
esac

for pkg in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if [ -z "$(apt-cache policy "$pkg" 2>/dev/null)" ] || apt-cache policy "$pkg" | grep -q 'Candidate: (none)'; then
      $sudo apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
      || { echo "could not install $pkg with apt-get" >&2; exit 1; }
  fi
done
# "python3-doc 3.11.2-1", or "diffutils-doc 1:3.8-4, gettext-doc 0.21-12"
versions() {
  local p sep=""
  for p in "${pkgs[@]}"; do printf '%s%s %s' "$sep" "$p" "$(dpkg-query -W -f='${Version}' "$p")"; sep=", "; done
}

root=""
for r in "${roots[@]}"; do
  if [ -d "$r" ]; then root=$r; break; fi
done
[ -n "$root" ] || { echo "${pkgs[*]} installed but none of the HTML folders exists: ${roots[*]}" >&2; exit 1; }

mkdir -p "$out"
for page in "${pages[@]}"; do
  dest="$out/${page//\//-}.html"
  if [ -f "$root/$page.html" ]; then
    cp "$root/$page.html" "$dest"
  elif [ -f "$root/$page.html.gz" ]; then
    gzip -dc "$root/$page.html.gz" > "$dest"
  else
    echo "missing page: $root/$page.html (nor .html.gz) in $(versions)" >&2
    exit 1
  fi
done
echo "wrote ${#pages[@]} pages of $(versions) to $out"
