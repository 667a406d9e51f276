# Sourced by the test scripts. `doc_block FILE NAME` prints the lines of FILE (relative to the
# repository root) between `<!-- NAME -->` and `<!-- /NAME -->`, without the code fences: a
# documented shell block, to run as written. tests/it/docs.rs counts a block a script extracts
# this way as run.
doc_block() {
  awk -v m="$2" '$0 == "<!-- " m " -->" {on = 1; next} $0 == "<!-- /" m " -->" {on = 0} on' \
    "$(dirname "${BASH_SOURCE[0]}")/../$1" | sed '/^```/d'
}
