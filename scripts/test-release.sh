#!/usr/bin/env bash
# The path a new user takes, end to end: scripts/release.sh makes the archive; its SHA256SUMS
# must check; README.md's install block installs it into an empty HOME; README.md's quickstart
# block then runs exactly as written there, with no environment overrides (a key, an encrypted
# file, the real pre-commit framework running the installed shroud through a `repo: local` hook,
# a refused plaintext Secret), with no Rust toolchain on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pre_commit=$(command -v pre-commit) || {
  echo "test-release: the pre-commit framework is required (scripts/setup.sh installs it)" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash scripts/release.sh --profile "${SHROUD_RELEASE_PROFILE:-dev}" --out "$work/dist"

# shellcheck source=scripts/doc-block.sh
source scripts/doc-block.sh
[ -n "$(doc_block README.md install-archive)" ] && [ -n "$(doc_block README.md quickstart)" ] || {
  echo "test-release: README.md lost its install-archive or quickstart block" >&2
  exit 1
}

home="$work/home"
mkdir -p "$home" "$work/tools"
# PATH holds git and coreutils (/usr/bin, /bin) and pre-commit, but no cargo or rustc.
ln -s "$pre_commit" "$work/tools/pre-commit"
path="$work/tools:/usr/bin:/bin"
for tool in cargo rustc; do
  if PATH="$path" command -v "$tool" >/dev/null; then
    echo "test-release: $tool is on the test PATH; the install path must not need it" >&2
    exit 1
  fi
done
clean_env=(env -i HOME="$home" PATH="$path" LANG=C.UTF-8 TERM=dumb
  GIT_AUTHOR_NAME=New GIT_AUTHOR_EMAIL=new@example.invalid
  GIT_COMMITTER_NAME=New GIT_COMMITTER_EMAIL=new@example.invalid)

echo "test-release: README install block"
(cd "$work/dist" && "${clean_env[@]}" bash -euo pipefail -c "$(doc_block README.md install-archive)")
[ -x "$home/.local/bin/shroud" ] && [ -f "$home/.local/share/man/man1/shroud-encrypt.1" ] || {
  echo "test-release: the archive did not install bin/shroud and the man pages under ~/.local" >&2
  exit 1
}

echo "test-release: README quickstart block"
(cd "$home" && "${clean_env[@]}" PATH="$home/.local/bin:$path" \
  bash -euo pipefail -c "$(doc_block README.md quickstart)")

# What the quickstart left behind: an encrypted file in a commit, the key 0600.
demo="$home/demo"
grep -q 'password: ENC\[AES256_GCM,' "$demo/secrets/db.yaml"
[ "$(git -C "$demo" log --oneline | wc -l)" -eq 2 ] || {
  echo "test-release: expected exactly the two commits the quickstart makes" >&2
  exit 1
}
[ "$(stat -c %a "$home/.config/sops/age/keys.txt")" = 600 ]
echo "test-release: archive, install and quickstart passed"
