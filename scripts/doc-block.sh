# Sourced by the test scripts. `doc_block FILE NAME` prints the lines of FILE (relative to the
# repository root) between `<!-- NAME -->` and `<!-- /NAME -->`, without the code fences: a
# documented shell block, to run as written. tests/it/docs.rs counts a block a script extracts
# this way as run.
_doc_block_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
doc_block() {
  awk -v m="$2" '$0 == "<!-- " m " -->" {on = 1; next} $0 == "<!-- /" m " -->" {on = 0} on' \
    "$_doc_block_root/$1" | sed '/^```/d'
}
