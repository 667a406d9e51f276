//! The conversation of every verb that works on many files (`rotate`, `updatekeys`,
//! `keys revoke`, `encrypt -i F1 F2 …`/`--recursive`): ask once, show progress, report each
//! failure, sum up, and end with one merged exit code. The files themselves run on the
//! library's one bulk runner (`shroud::bulk`).
//!
//! Owns: the confirmation (`-y` skips it; an answered "n" or no answer changes nothing), the
//! progress bar of long runs on a terminal, the summary line `VERB: N this, N that, N failed`,
//! and the exit code (`ExitCode::merge` over the failed files). Must not know: what the verbs
//! do to a file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use shroud::error::{Error, ExitCode, Result};

use super::common::{self, Outcome};
use super::messages;

/// How a bulk verb runs: its name, and the flags every bulk verb has.
pub struct Bulk<'a> {
    pub verb: &'a str,
    /// `-y`: do not ask.
    pub yes: bool,
    /// `-q`: only failures and the summary line (no per-file lines, no progress bar).
    pub quiet: bool,
    /// Files processed at once.
    pub jobs: usize,
}

impl Bulk<'_> {
    /// Asks `question` once, unless `-y` was given: an answered "n" is [`Error::Declined`]
    /// (`VERB was not confirmed`), no answer [`Error::NoAnswer`]; nothing is changed either way.
    pub fn confirm(&self, question: &str) -> Result<()> {
        if self.yes || common::confirm(question)? {
            Ok(())
        } else {
            Err(Error::Declined(format!("{} was not confirmed", self.verb)))
        }
    }

    /// Runs `work` over `items` on the library's bulk runner, `jobs` at once, with a progress
    /// bar when `long_run` (a directory walk) has more than 20 files and stderr is a terminal.
    pub fn run<I, T, F, Fut>(
        &self,
        items: Vec<(PathBuf, I)>,
        long_run: bool,
        work: F,
    ) -> Vec<(PathBuf, Result<T>)>
    where
        F: Fn(PathBuf, I) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (bar, progress) = self.progress(items.len(), long_run);
        let results =
            common::block_on_parallel(shroud::bulk::run(items, self.jobs, progress, work));
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        results
    }

    /// The bar of [`Bulk::run`] and the library's progress callback that ticks it.
    pub fn progress(
        &self,
        files: usize,
        long_run: bool,
    ) -> (Option<indicatif::ProgressBar>, shroud::bulk::Progress) {
        let bar =
            (long_run && !self.quiet && files > 20 && std::io::stderr().is_terminal()).then(|| {
                let b = indicatif::ProgressBar::new(files as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} files, {elapsed} elapsed, about {eta} left",
                    )
                    .expect("valid template"),
                );
                b
            });
        let tick = bar.clone();
        let progress: shroud::bulk::Progress = Arc::new(move |_| {
            if let Some(b) = &tick {
                b.inc(1);
            }
        });
        (bar, progress)
    }

    /// A per-file line (a file changed), unless `-q`; silent in the drop-in mode.
    pub fn say(&self, line: &str) {
        if !self.quiet {
            messages::progress(line);
        }
    }

    /// A per-file line of the plan a confirmation asks about, unless `-q`: shown in the
    /// drop-in mode too (sops shows the changes before it asks).
    pub fn plan(&self, line: &str) {
        if !self.quiet {
            messages::note(line);
        }
    }
}

/// The results of a bulk run, counted for the summary line, with the failed files' exit codes.
pub struct Tally {
    counts: Vec<(String, usize)>,
    codes: Vec<ExitCode>,
    /// In the drop-in mode: the code sops gives each failed file ([`messages::sops_code`]).
    sops_codes: Vec<u8>,
}

impl Tally {
    /// Counts by these names, in this order, starting at the numbers given.
    pub fn new(counts: &[(&str, usize)]) -> Tally {
        Tally {
            counts: counts.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
            codes: Vec::new(),
            sops_codes: Vec::new(),
        }
    }

    /// One more of `what` (a name given to [`Tally::new`]).
    pub fn count(&mut self, what: &str) {
        if let Some((_, n)) = self.counts.iter_mut().find(|(n, _)| n == what) {
            *n += 1;
        }
    }

    /// A file failed: its error is reported (the run went on) and its exit code kept.
    pub fn failed(&mut self, e: &Error) {
        messages::file_error(e);
        self.codes.push(e.exit_code());
        self.sops_codes.extend(messages::sops_code(e));
    }

    /// `VERB: N this, N that, N failed` (and `; tail`).
    pub fn summary(&self, verb: &str, tail: Option<&str>) {
        let mut parts: Vec<String> = self
            .counts
            .iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        parts.push(format!("{} failed", self.codes.len()));
        let tail = tail.map(|t| format!("; {t}")).unwrap_or_default();
        messages::progress(&format!("{verb}: {}{tail}", parts.join(", ")));
    }

    /// How the run ends: success, or the failed files' merged exit code.
    pub fn outcome(&self) -> Outcome {
        // sops works on one file: its code for that file's failure.
        if let Some(&code) = self.sops_codes.first() {
            return Outcome::Exit(code);
        }
        match ExitCode::merge(self.codes.iter().copied()) {
            ExitCode::Success => Outcome::Done,
            c => Outcome::Code(c),
        }
    }
}
