#!/usr/bin/env bash
# Scheduled data-key rotation, the GitOps way: rotate on a branch, push it for review.
#
# Environment:
#   REPO_URL           git URL to clone (ssh or https)
#   BASE_BRANCH        branch to start from (default: main)
#   SOPS_AGE_KEY_FILE  an identity that can open the files (or AWS credentials for KMS)
#   GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL   commit identity (defaults below)
set -euo pipefail
: "${REPO_URL:?set REPO_URL}"
base="${BASE_BRANCH:-main}"
branch="rotate/data-keys-$(date -u +%Y%m%d)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git clone --quiet --branch "$base" "$REPO_URL" "$work/repo"
cd "$work/repo"
git checkout --quiet -b "$branch"
shroud rotate -y --all
if git diff --quiet; then
  echo "rotate: nothing to rotate"
  exit 0
fi
git -c user.name="${GIT_AUTHOR_NAME:-shroud-rotation}" -c user.email="${GIT_AUTHOR_EMAIL:-shroud-rotation@invalid}" \
  commit --quiet -am "Rotate sops data keys ($(date -u +%F))"
git push --quiet origin "$branch"
echo "rotate: pushed $branch; open a pull request against $base"
