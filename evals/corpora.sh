#!/usr/bin/env bash
# Writes the corpus of one of the blind sets evals/python-docs.jsonl, evals/postgres-manual.jsonl and
# evals/debian-handbook.jsonl: a fixed list of HTML pages from a Debian documentation package, flattened into
# OUT_DIR (a page's folder inside the package becomes a prefix of its name: library/json.html -> library-json.html),
# so the questions' `source` fields are plain file names. Gzipped pages (.html.gz) are decompressed.
#   bash evals/corpora.sh python-docs /tmp/python-docs          # python3-doc (3.11.2-1): Sphinx pages
#   bash evals/corpora.sh postgres-manual /tmp/postgres-manual  # postgresql-doc-15 (15.20-0+deb12u1): DocBook pages
#   bash evals/corpora.sh debian-handbook /tmp/debian-handbook  # debian-handbook (11.20220922), en-US: Publican pages
# then e.g. qa eval evals/python-docs.jsonl --docs /tmp/python-docs
# Installs the package with apt-get when it is missing (needs root, or sudo, and Debian's package archive).
set -euo pipefail
name=${1:?usage: bash evals/corpora.sh python-docs|postgres-manual|debian-handbook OUT_DIR}
out=${2:?usage: bash evals/corpora.sh python-docs|postgres-manual|debian-handbook OUT_DIR}

case "$name" in
  python-docs)
    pkg=python3-doc
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
    pkg=postgresql-doc-15
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
    pkg=debian-handbook
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
  *)
    echo "unknown corpus '$name': use python-docs, postgres-manual or debian-handbook" >&2
    exit 2
    ;;
esac

if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "$(apt-cache policy "$pkg" 2>/dev/null)" ] || apt-cache policy "$pkg" | grep -q 'Candidate: (none)'; then
    $sudo apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
    || { echo "could not install $pkg with apt-get" >&2; exit 1; }
fi

root=""
for r in "${roots[@]}"; do
  if [ -d "$r" ]; then root=$r; break; fi
done
[ -n "$root" ] || { echo "$pkg is installed but none of its HTML folders exists: ${roots[*]}" >&2; exit 1; }

mkdir -p "$out"
for page in "${pages[@]}"; do
  dest="$out/${page//\//-}.html"
  if [ -f "$root/$page.html" ]; then
    cp "$root/$page.html" "$dest"
  elif [ -f "$root/$page.html.gz" ]; then
    gzip -dc "$root/$page.html.gz" > "$dest"
  else
    echo "missing page: $root/$page.html (nor .html.gz) in $pkg $(dpkg-query -W -f='${Version}' "$pkg")" >&2
    exit 1
  fi
done
echo "wrote ${#pages[@]} pages of $pkg $(dpkg-query -W -f='${Version}' "$pkg") to $out"
