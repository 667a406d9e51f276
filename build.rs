//! Build metadata for `--version`: the git commit the binaries were built from.
//!
//! `SHROUD_COMMIT` in the environment wins (release builds from a source archive without
//! `.git`); otherwise `git rev-parse` is asked, with `-dirty` for uncommitted changes; outside
//! a git checkout it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SHROUD_COMMIT");
    let commit = std::env::var("SHROUD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let head = git(&["rev-parse", "--short=12", "HEAD"])?;
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            Some(if dirty { format!("{head}-dirty") } else { head })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuild when HEAD moves (a commit, a checkout); the index covers staged changes. Paths
    // from `--git-path` (a worktree keeps its branch refs in the common directory) and only
    // those that exist: a missing one (a packed ref) would make every build run this again and
    // recompile the crate.
    if git(&["rev-parse", "--git-dir"]).is_some() {
        let mut watch = vec![
            "HEAD".to_owned(),
            "index".to_owned(),
            "packed-refs".to_owned(),
        ];
        watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        for f in watch {
            if let Some(p) = git(&["rev-parse", "--git-path", &f])
                && std::path::Path::new(&p).exists()
            {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    println!("cargo:rustc-env=SHROUD_COMMIT={commit}");
}
