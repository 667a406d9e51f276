#!/usr/bin/env bash
# Bounded coverage-guided fuzzing (libFuzzer via cargo-fuzz) of the ENC parser, the metadata
# reader, the YAML store, the flattened (dotenv/INI) metadata loader and the JSON emitter.
# The stable toolchain is used with RUSTC_BOOTSTRAP=1 for the sanitizer flags. FUZZ_SECONDS per target (default 30). Crashes fail the run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-30}"
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
mkdir -p corpus/enc_parser corpus/metadata_reader corpus/yaml_store corpus/flat_metadata corpus/json_emitter
printf 'age__list_0__map_enc=x\nkey_groups__list_1__map_age__list_0__map_recipient=r\nversion=3.11.0\n' > corpus/flat_metadata/seed
# Seed with real sops files and a few ENC strings.
fixtures="${SHROUD_SOPS_FIXTURES:-../../shared/fixtures/sops}"
for f in "$fixtures"/*/*.yaml "$fixtures"/*/*.env "$fixtures"/*/*.txt; do
  [ -f "$f" ] || continue
  cp "$f" "corpus/metadata_reader/$(basename "$f")"
  cp "$f" "corpus/yaml_store/$(basename "$f")"
  { grep -ho 'ENC\[[^]]*\]' "$f" || true; } | head -3 | while read -r e; do
    printf '%s' "$e" > "corpus/enc_parser/$(printf '%s' "$e" | cksum | cut -d' ' -f1)"
  done
done
for target in enc_parser metadata_reader yaml_store flat_metadata json_emitter; do
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
done
