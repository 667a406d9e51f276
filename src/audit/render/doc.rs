//! The report as sections ([`Doc`]): what each format shows, decided once. Renderers decide
//! only how it looks.
//!
//! Owns: the choice and order of sections, columns and wording. Must not know: any output
//! syntax (escaping, markup, colours).

use super::super::model::{DriftKind, EventKind, FileEntry, KeyRef, Recipient, Report, RevokedVia};
use super::{Card, Cell, Column, Doc, Section, Span, Table, Tone, date, short_commit, short_id};

/// Text of the report. A post-quantum or plugin recipient (~2,000 characters) in it is
/// shortened ([`crate::text::shorten_keys`]); the JSON report keeps keys whole.
fn t(s: impl Into<String>) -> Span {
    Span::Text(crate::text::shorten_keys(&s.into()))
}

fn code(s: impl Into<String>) -> Span {
    Span::Code(crate::text::shorten_keys(&s.into()))
}

fn col(title: &str, terminal: bool) -> Column {
    Column {
        title: title.to_owned(),
        terminal,
        center: false,
    }
}

fn centred(title: &str, terminal: bool) -> Column {
    Column {
        center: true,
        ..col(title, terminal)
    }
}

fn section(id: &'static str, title: &str, empty: &'static str) -> Section {
    Section {
        id,
        title: title.to_owned(),
        level: 2,
        count: None,
        intro: Vec::new(),
        table: None,
        items: Vec::new(),
        empty,
        terminal: true,
    }
}

fn findings(id: &'static str, title: &str, n: usize, empty: &'static str) -> Section {
    Section {
        count: Some(n),
        ..section(id, title, empty)
    }
}

fn paths(ps: &[String]) -> Span {
    Span::List(ps.iter().map(|p| vec![code(p)]).collect())
}

fn commits(ids: &[String]) -> Span {
    Span::List(ids.iter().map(|c| vec![code(short_commit(c))]).collect())
}

/// A recipient of the report by id.
fn recipient<'a>(r: &'a Report, id: &str) -> Option<&'a Recipient> {
    r.recipients.iter().find(|x| x.recipient == id)
}

/// A recipient for tables: its name (from `name`, else the report's recipients), type and
/// key, with `unnamed` and `revoked` tags.
fn who(
    r: &Report,
    kind: crate::metadata::KeyKind,
    id: &str,
    name: Option<&str>,
    revoked: Option<&str>,
    short: bool,
) -> Vec<Span> {
    let x = recipient(r, id);
    let seen = r.access_history.iter().find(|a| a.recipient == id);
    let name = name
        .map(str::to_owned)
        .or_else(|| x.and_then(|x| x.name.clone()))
        .or_else(|| seen.and_then(|a| a.name.clone()));
    let mut out = match name {
        Some(n) => vec![Span::Strong(n), t(" ")],
        None => Vec::new(),
    };
    out.push(t(format!("{} ", kind.label())));
    out.push(code(if short { short_id(id) } else { id.to_owned() }));
    if x.is_some_and(|x| x.unnamed) {
        out.push(t(" "));
        out.push(Span::Tag(Tone::Warn, "unnamed".into()));
    }
    let revoked = revoked
        .map(str::to_owned)
        .or_else(|| x.and_then(|x| x.revoked.clone()))
        .or_else(|| seen.and_then(|a| a.revoked.clone()));
    if let Some(d) = revoked {
        out.push(t(" "));
        out.push(Span::Tag(Tone::Bad, format!("revoked {d}")));
    }
    out
}

/// A key label (`type identity`, as drift lists keys) with the holder's name when known.
fn named(r: &Report, key_label: &str) -> String {
    let holder = r
        .recipients
        .iter()
        .filter(|x| x.name.is_some() && key_label.contains(x.recipient.as_str()))
        .max_by_key(|x| x.recipient.len());
    match holder.and_then(|x| x.name.as_deref()) {
        Some(n) => format!("{key_label} ({n})"),
        None => key_label.to_owned(),
    }
}

/// `any 1 of 1` / `2 of 3`.
fn threshold_text(f: &FileEntry) -> String {
    let n = f.key_groups.len();
    if n <= 1 {
        "1 of 1".to_owned()
    } else {
        format!("{} of {n}", f.threshold)
    }
}

/// When the data key was made: `2025-01-01 (30 d, git)`.
fn rotation_text(f: &FileEntry) -> String {
    match (
        &f.rotation.rotated_at,
        f.rotation.age_days,
        f.rotation.source,
    ) {
        (Some(at), Some(age), Some(src)) => format!("{} ({age} d, {src})", date(at)),
        _ => "unknown".to_owned(),
    }
}

pub fn build(r: &Report) -> Doc {
    let s = &r.summary;
    let mut cards = vec![
        Card {
            label: "sops files",
            count: s.sops_files,
            finding: false,
        },
        Card {
            label: "recipients",
            count: s.recipients,
            finding: false,
        },
        Card {
            label: "access changes",
            count: s.access_changes,
            finding: false,
        },
    ];
    for (label, count) in [
        ("policy drift", s.drift),
        ("stale data keys", s.stale),
        ("revoked recipients", s.revoked),
        ("plaintext secrets", s.plaintext),
        ("integrity problems", s.integrity),
    ] {
        cards.push(Card {
            label,
            count,
            finding: true,
        });
    }
    if let Some(v) = &s.verified {
        cards.push(Card {
            label: "MACs verified",
            count: v.ok,
            finding: false,
        });
    }
    let mut sections = vec![inventory(r), matrix(r)];
    sections.extend(shamir(r));
    sections.extend([
        by_recipient(r),
        access_history(r),
        key_changes(r),
        drift(r),
        stale(r),
        revoked(r),
        plaintext(r),
        integrity(r),
    ]);
    if !r.notes.is_empty() {
        let mut notes = section("notes", "Notes", "");
        notes.items = r.notes.iter().map(|n| vec![t(n)]).collect();
        sections.push(notes);
    }
    Doc {
        root: r.header.root.clone(),
        header: header(r),
        cards,
        sections,
    }
}

fn header(r: &Report) -> Vec<(&'static str, Vec<Span>)> {
    let h = &r.header;
    let s = &r.summary;
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut out = vec![(
        "repository",
        match &h.repository {
            Some(top) => vec![code(top)],
            None => vec![t("not a git repository")],
        },
    )];
    if let Some(p) = h.path.as_deref().filter(|p| !p.is_empty()) {
        out.push(("path", vec![code(p)]));
    }
    out.push(("remote", vec![h.remote.as_deref().map_or(t("none"), code)]));
    out.push((
        "branch",
        vec![h.branch.as_deref().map_or(t("none (detached HEAD)"), code)],
    ));
    out.push(("HEAD", vec![h.head.as_deref().map_or(t("no commit"), code)]));
    out.push((
        "scope",
        vec![t(format!(
            "key history from git: {} · plaintext scan of every commit (--history): {} · MACs verified with keys (--verify): {}",
            yes(h.scope.key_history),
            yes(h.scope.history),
            yes(h.scope.verify)
        ))],
    ));
    let p = &h.policy;
    let age = match (p.max_key_age_days, p.max_key_age.as_slice()) {
        (Some(d), _) => format!("{d} d (--max-key-age)"),
        (None, []) => "none (stale keys are not checked)".to_owned(),
        (None, list) => list
            .iter()
            .map(|c| format!("{} d ({})", c.days, c.config))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut policy = vec![t(format!("max key age {age} · names "))];
    policy.push(p.names_file.as_deref().map_or(t("none"), code));
    policy.push(t(format!(
        " · fail on {}",
        if p.fail_on.is_empty() {
            "nothing (report only)".to_owned()
        } else {
            p.fail_on.join(", ")
        }
    )));
    out.push(("policy", policy));
    out.push((
        "contents",
        vec![t(format!(
            "{} sops files, {} recipients, {} access changes, {} files seen",
            s.sops_files, s.recipients, s.access_changes, s.files_seen
        ))],
    ));
    out.push((
        "generated",
        vec![t(format!(
            "{} by shroud {} (schema {})",
            r.generated_at, r.shroud_version, r.schema
        ))],
    ));
    out
}

fn inventory(r: &Report) -> Section {
    let mut sec = section("inventory", "Inventory", "No sops files.");
    sec.count = None;
    let mut table = Table {
        columns: vec![
            col("file", true),
            col("format", true),
            col("version", false),
            col("lastmodified", false),
            centred("MAC", false),
            centred("access", true),
            col("data key made", true),
            col("recipients (groups on separate lines)", true),
            col("last commit", false),
        ],
        rows: Vec::new(),
    };
    for f in &r.files {
        let recipients = match &f.damaged {
            Some(d) => vec![Span::Tag(Tone::Bad, "damaged".into()), t(format!(" {d}"))],
            None => {
                let mut spans = Vec::new();
                for (i, g) in f.key_groups.iter().enumerate() {
                    if i > 0 {
                        spans.push(Span::Break);
                    }
                    if f.key_groups.len() > 1 {
                        spans.push(t(format!("group {i}: ")));
                    }
                    for (j, k) in g.iter().enumerate() {
                        if j > 0 {
                            spans.push(t(", "));
                        }
                        spans.extend(who(r, k.kind, &k.recipient, None, None, true));
                    }
                }
                if f.unknown_readers {
                    spans.extend([t(" "), Span::Tag(Tone::Bad, "+ unknown readers".into())]);
                }
                spans
            }
        };
        let mut made = vec![t(rotation_text(f))];
        if f.rotation.stale {
            made.extend([t(" "), Span::Tag(Tone::Bad, "stale".into())]);
        }
        let last = f
            .git
            .as_ref()
            .and_then(|g| g.last_commit.as_ref())
            .map_or_else(
                || vec![t("—")],
                |c| {
                    vec![
                        code(short_commit(&c.id)),
                        t(format!(" {} {}", c.author, date(&c.time))),
                    ]
                },
            );
        table.rows.push(vec![
            Cell::of(vec![code(&f.path)]),
            Cell::of(vec![t(f.format)]),
            Cell::of(vec![t(f.version.as_deref().unwrap_or("—"))]),
            Cell::of(vec![t(f.lastmodified.as_deref().unwrap_or("—"))]),
            Cell::of(vec![if f.mac {
                Span::Tag(Tone::Good, "yes".into())
            } else {
                Span::Tag(Tone::Bad, "no".into())
            }]),
            Cell::of(vec![t(threshold_text(f))]),
            Cell::of(made),
            Cell::of(recipients),
            Cell::of(last),
        ]);
    }
    sec.table = Some(table);
    sec
}

fn matrix(r: &Report) -> Section {
    let mut sec = section("matrix", "Access matrix", "No recipients.");
    sec.terminal = false;
    sec.intro = vec![
        Span::Tag(Tone::Good, "●".into()),
        t(" opens the file alone · "),
        Span::Tag(Tone::Warn, "◐ k/n".into()),
        t(" holds k of the n key groups needed (needs other recipients) · empty: no access"),
    ];
    if r.recipients.is_empty() {
        return sec;
    }
    let mut columns = vec![col("file", false)];
    columns.extend(r.recipients.iter().map(|x| Column {
        title: format!(
            "{} ({})",
            x.name.clone().unwrap_or_else(|| short_id(&x.recipient)),
            x.kind.label()
        ),
        terminal: false,
        center: true,
    }));
    let rows = r
        .files
        .iter()
        .filter(|f| f.damaged.is_none())
        .map(|f| {
            let mut row = vec![Cell::of(vec![code(&f.path)])];
            for x in &r.recipients {
                let held = f
                    .key_groups
                    .iter()
                    .filter(|g| {
                        g.iter()
                            .any(|k| k.kind == x.kind && k.recipient == x.recipient)
                    })
                    .count();
                row.push(if held == 0 {
                    Cell::default()
                } else if f.threshold >= 1 && held >= f.threshold {
                    Cell {
                        spans: vec![t("●")],
                        tone: Some(Tone::Good),
                    }
                } else {
                    Cell {
                        spans: vec![t(format!("◐ {held}/{}", f.threshold))],
                        tone: Some(Tone::Warn),
                    }
                });
            }
            row
        })
        .collect();
    sec.table = Some(Table { columns, rows });
    sec
}

/// Shamir-split files: the smallest sets of recipients that open each together.
fn shamir(r: &Report) -> Option<Section> {
    let split: Vec<&FileEntry> = r.files.iter().filter(|f| f.threshold > 1).collect();
    if split.is_empty() {
        return None;
    }
    let mut sec = section(
        "shamir",
        "Shamir-split files: who can open them together",
        "",
    );
    sec.level = 3;
    let rows = split
        .into_iter()
        .map(|f| {
            let mut sets: Vec<Vec<Span>> = f
                .combinations
                .iter()
                .map(|c| {
                    let names: Vec<String> = c
                        .iter()
                        .map(|id| {
                            recipient(r, id)
                                .and_then(|x| x.name.clone())
                                .unwrap_or_else(|| short_id(id))
                        })
                        .collect();
                    vec![t(names.join(" + "))]
                })
                .collect();
            if f.combinations_truncated {
                sets.push(vec![t("…")]);
            }
            let who = if sets.is_empty() {
                vec![Span::Tag(Tone::Bad, "nobody".into())]
            } else {
                vec![Span::List(sets)]
            };
            vec![
                Cell::of(vec![code(&f.path)]),
                Cell::of(vec![t(threshold_text(f))]),
                Cell::of(who),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("file", true),
            centred("threshold", true),
            col("smallest sets of recipients that open it", true),
        ],
        rows,
    });
    Some(sec)
}

fn by_recipient(r: &Report) -> Section {
    let mut sec = section("recipients", "Access by recipient", "No recipients.");
    let rows = r
        .recipients
        .iter()
        .map(|x| {
            let shares = Span::List(
                x.shares
                    .iter()
                    .map(|s| {
                        vec![
                            code(&s.path),
                            t(format!(" ({}/{})", s.groups_held, s.threshold)),
                        ]
                    })
                    .collect(),
            );
            vec![
                Cell::of(who(r, x.kind, &x.recipient, None, None, false)),
                Cell::of(vec![t(x.holder.as_deref().unwrap_or("—"))]),
                Cell::of(vec![paths(&x.opens_alone)]),
                Cell::of(vec![shares]),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("recipient", true),
            col("holder", false),
            col("opens alone", true),
            col("holds a share of (groups held/needed)", true),
        ],
        rows,
    });
    sec
}

fn commit_cells(c: Option<&super::super::model::Commit>) -> [Cell; 3] {
    match c {
        Some(c) => [
            Cell::of(vec![t(&c.time)]),
            Cell::of(vec![code(short_commit(&c.id))]),
            Cell::of(vec![t(format!("{} <{}>", c.author, c.email))]),
        ],
        None => [
            Cell::of(vec![t("uncommitted")]),
            Cell::of(vec![t("—")]),
            Cell::of(vec![t("—")]),
        ],
    }
}

fn access_history(r: &Report) -> Section {
    let mut sec = section(
        "access-history",
        "Access history",
        "No recipient was added or removed in the history read.",
    );
    sec.intro = vec![t(
        "Every recipient added to or removed from a file, oldest first (git history; the working copy last).",
    )];
    let rows = r
        .access_history
        .iter()
        .map(|a| {
            let [time, commit, author] = commit_cells(a.commit.as_ref());
            let change = if a.change == "added" {
                Span::Tag(Tone::Good, "added".into())
            } else {
                Span::Tag(Tone::Bad, "removed".into())
            };
            vec![
                time,
                Cell::of(vec![code(&a.path)]),
                Cell::of(vec![change]),
                Cell::of(who(
                    r,
                    a.kind,
                    &a.recipient,
                    a.name.as_deref(),
                    a.revoked.as_deref(),
                    true,
                )),
                Cell::of(vec![t(a.event.name())]),
                commit,
                author,
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("time", true),
            col("file", true),
            col("change", true),
            col("recipient", true),
            col("in a", false),
            col("commit", true),
            col("author", true),
        ],
        rows,
    });
    sec
}

fn key_list(r: &Report, keys: &[KeyRef]) -> Span {
    Span::List(
        keys.iter()
            .map(|k| who(r, k.kind, &k.recipient, None, None, true))
            .collect(),
    )
}

/// Every change of a file's keys (edits and unchanged versions left out: they keep the data key
/// and the envelopes).
fn key_changes(r: &Report) -> Section {
    let mut sec = section(
        "key-changes",
        "Key changes",
        "No key change in the history read.",
    );
    sec.terminal = false;
    sec.intro = vec![t(
        "created / re-key: a new data key (every encrypted value and the MAC changed) · re-wrap: the same data key wrapped again (envelopes changed, some value did not) · not-sops: the version is not a readable sops file · first-seen: the oldest version a shallow clone holds",
    )];
    let mut rows: Vec<(i64, Vec<Cell>)> = Vec::new();
    for f in &r.files {
        let Some(g) = &f.git else { continue };
        for e in g
            .events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Edit | EventKind::Unchanged))
        {
            let [time, commit, author] = commit_cells(e.commit.as_ref());
            let tone = if e.kind.new_data_key() {
                Tone::Good
            } else {
                Tone::Plain
            };
            rows.push((
                e.commit.as_ref().map_or(i64::MAX, |c| c.unix),
                vec![
                    time,
                    Cell::of(vec![code(&f.path)]),
                    Cell::of(vec![Span::Tag(tone, e.kind.name().into())]),
                    Cell::of(vec![key_list(r, &e.added)]),
                    Cell::of(vec![key_list(r, &e.removed)]),
                    commit,
                    author,
                ],
            ));
        }
    }
    rows.sort_by_key(|(t, _)| *t);
    sec.table = Some(Table {
        columns: vec![
            col("time", false),
            col("file", false),
            col("change", false),
            col("added", false),
            col("removed", false),
            col("commit", false),
            col("author", false),
        ],
        rows: rows.into_iter().map(|(_, row)| row).collect(),
    });
    sec
}

/// One drift finding's description, without the path.
fn drift_text(r: &Report, kind: &DriftKind) -> String {
    let names = |labels: &[String]| {
        labels
            .iter()
            .map(|l| named(r, l))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        DriftKind::Recipients { groups } => groups
            .iter()
            .map(|g| {
                let mut parts = Vec::new();
                if !g.missing.is_empty() {
                    parts.push(format!("missing {}", names(&g.missing)));
                }
                if !g.extra.is_empty() {
                    parts.push(format!("extra {}", names(&g.extra)));
                }
                format!("group {}: {}", g.group, parts.join("; "))
            })
            .collect::<Vec<_>>()
            .join(" | "),
        DriftKind::Threshold { file, rule } => {
            format!("needs {file} key group(s), the rule asks for {rule}")
        }
        DriftKind::Rules { file, rule } => format!(
            "encrypts by {} {:?}, the rule says {} {:?}",
            file.option, file.value, rule.option, rule.value
        ),
        DriftKind::Uncovered { reason } => reason.clone(),
        DriftKind::MustEncrypt {
            values,
            paths,
            unparsed,
        } => match unparsed {
            Some(why) => format!("plaintext, and the rule says it must be encrypted ({why})"),
            None => {
                let more = values.saturating_sub(paths.len());
                let listed = paths.join(", ");
                if more > 0 {
                    format!(
                        "plaintext: {values} value(s) the rule encrypts: {listed}, and {more} more"
                    )
                } else {
                    format!("plaintext: {values} value(s) the rule encrypts: {listed}")
                }
            }
        },
        DriftKind::Shadowed { by } => format!(
            "rule can never apply: rule {by} before it matches every path it matches (the first matching rule wins)"
        ),
    }
}

/// The machine name of a drift kind.
pub fn drift_kind(kind: &DriftKind) -> &'static str {
    match kind {
        DriftKind::Recipients { .. } => "recipients",
        DriftKind::Threshold { .. } => "threshold",
        DriftKind::Rules { .. } => "rules",
        DriftKind::Uncovered { .. } => "uncovered",
        DriftKind::MustEncrypt { .. } => "must-encrypt",
        DriftKind::Shadowed { .. } => "shadowed",
    }
}

fn drift(r: &Report) -> Section {
    let mut sec = findings(
        "drift",
        "Policy drift",
        r.drift.len(),
        "Every file follows its creation rule.",
    );
    let rows = r
        .drift
        .iter()
        .map(|d| {
            let config = match (&d.config, d.rule) {
                (Some(c), Some(i)) => vec![code(c), t(format!(" rule {i}"))],
                (Some(c), None) => vec![code(c)],
                _ => vec![t("—")],
            };
            vec![
                Cell::of(vec![code(&d.path)]),
                Cell::of(vec![Span::Tag(Tone::Bad, drift_kind(&d.kind).into())]),
                Cell::of(config),
                Cell::of(vec![t(drift_text(r, &d.kind))]),
                Cell::of(vec![code(&d.fix)]),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("file", true),
            col("kind", true),
            col("config", false),
            col("finding", true),
            col("fix", true),
        ],
        rows,
    });
    sec
}

fn stale(r: &Report) -> Section {
    let mut sec = findings(
        "stale",
        "Stale data keys",
        r.stale.len(),
        "No data key is older than its policy allows.",
    );
    let rows = r
        .stale
        .iter()
        .map(|x| {
            vec![
                Cell::of(vec![code(&x.path)]),
                Cell::of(vec![t(x.rotated_at.as_deref().unwrap_or("unknown"))]),
                Cell::of(vec![t(x.source.unwrap_or("—"))]),
                Cell::of(vec![t(x
                    .age_days
                    .map_or("?".to_owned(), |a| a.to_string()))]),
                Cell::of(vec![t(x.max_age_days.to_string())]),
                Cell::of(vec![code(&x.policy)]),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("file", true),
            col("data key made", true),
            col("from", true),
            centred("age (days)", true),
            centred("allowed (days)", true),
            col("policy", true),
        ],
        rows,
    });
    sec
}

fn revoked(r: &Report) -> Section {
    let mut sec = findings(
        "revoked",
        "Revoked recipients that can still read",
        r.revoked.len(),
        "No recipient the names file marks revoked can read a file.",
    );
    sec.intro = vec![t(
        "current: the file lists it today · history: an envelope for it in an earlier version wraps today's data key · rule: a creation rule still lists it",
    )];
    let rows = r
        .revoked
        .iter()
        .map(|x| {
            let via = match x.via {
                RevokedVia::Current => vec![Span::Tag(Tone::Bad, "current".into())],
                RevokedVia::History => vec![
                    Span::Tag(Tone::Bad, "history".into()),
                    t(" "),
                    commits(&x.commits),
                ],
                RevokedVia::Rule => vec![
                    Span::Tag(Tone::Bad, "rule".into()),
                    t(format!(" {}", x.rule.unwrap_or_default())),
                ],
            };
            vec![
                Cell::of(who(
                    r,
                    x.kind,
                    &x.recipient,
                    x.name.as_deref(),
                    Some(&x.revoked),
                    true,
                )),
                Cell::of(vec![code(&x.path)]),
                Cell::of(via),
                Cell::of(vec![code(&x.fix)]),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("recipient", true),
            col("file", true),
            col("reads it through", true),
            col("fix", true),
        ],
        rows,
    });
    sec
}

fn plaintext(r: &Report) -> Section {
    let mut sec = findings(
        "plaintext",
        "Plaintext secrets",
        r.plaintext.len(),
        "The scanner found nothing.",
    );
    let rows = r
        .plaintext
        .iter()
        .map(|p| {
            let lines: Vec<String> = p.lines.iter().map(|l| l.to_string()).collect();
            vec![
                Cell::of(vec![code(&p.path)]),
                Cell::of(vec![code(&p.rule_id)]),
                Cell::of(vec![t(p.count.to_string())]),
                Cell::of(vec![t(lines.join(", "))]),
                Cell::of(vec![commits(&p.commits)]),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("file", true),
            col("rule", true),
            centred("findings", true),
            col("lines", true),
            col("commits", true),
        ],
        rows,
    });
    sec
}

fn integrity(r: &Report) -> Section {
    let mut sec = findings(
        "integrity",
        "Integrity",
        r.integrity.len(),
        "Every file is structurally intact.",
    );
    let rows = r
        .integrity
        .iter()
        .map(|i| {
            vec![
                Cell::of(vec![code(&i.path)]),
                Cell::of(vec![Span::Tag(Tone::Bad, i.check.into())]),
                Cell::of(i.at.as_deref().map(code).into_iter().collect()),
                Cell::of(vec![t(&i.detail)]),
            ]
        })
        .collect();
    sec.table = Some(Table {
        columns: vec![
            col("file", true),
            col("check", true),
            col("at", true),
            col("detail", true),
        ],
        rows,
    });
    sec
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::super::model::*;
    use crate::metadata::KeyKind;

    /// A small report with hostile text in every place a renderer shows repository text.
    pub fn sample() -> Report {
        let evil = "ev\u{1b}]0;pwn\u{7}il\u{202e}lmy.|`*<b>";
        let commit = Commit {
            id: "0123456789abcdef0123456789abcdef01234567".into(),
            time: "2026-01-02T03:04:05Z".into(),
            unix: 1_767_323_045,
            author: evil.into(),
            email: "a\u{1b}@x".into(),
        };
        let key = Key {
            kind: KeyKind::Age,
            recipient: "age1abc".into(),
            identity: "age1abc".into(),
            name: Some(evil.into()),
            role: None,
            context: None,
            aws_profile: None,
            created_at: None,
        };
        let file = FileEntry {
            path: format!("dir/{evil}.yaml"),
            format: "yaml",
            damaged: None,
            version: Some("3.9.0".into()),
            lastmodified: Some("2026-01-02T03:04:05Z".into()),
            mac: true,
            encryption: Encryption::default(),
            shamir_threshold: 0,
            threshold: 1,
            key_groups: vec![vec![key]],
            unknown_readers: false,
            shares_data_key_with: Vec::new(),
            combinations: vec![vec!["age1abc".into()]],
            combinations_truncated: false,
            config: Some(".sops.yaml".into()),
            rule: Some(0),
            git: Some(FileGit {
                tracked: true,
                modified: false,
                last_commit: Some(commit.clone()),
                last_rekey: Some(commit.clone()),
                last_rewrap: None,
                events: vec![KeyEvent {
                    commit: Some(commit.clone()),
                    kind: EventKind::Created,
                    added: vec![KeyRef {
                        kind: KeyKind::Age,
                        recipient: "age1abc".into(),
                    }],
                    removed: Vec::new(),
                }],
            }),
            rotation: Rotation::default(),
            verify: None,
        };
        Report {
            schema: SCHEMA,
            shroud_version: "0",
            generated_at: "2026-01-03T00:00:00Z".into(),
            header: Header {
                root: evil.into(),
                remote: Some(format!("https://{evil}")),
                ..Header::default()
            },
            summary: Summary::default(),
            recipients: vec![Recipient {
                kind: KeyKind::Age,
                recipient: "age1abc".into(),
                name: Some(evil.into()),
                holder: Some(evil.into()),
                unnamed: false,
                revoked: None,
                opens_alone: vec![file.path.clone()],
                opens_via_shared_key: Vec::new(),
                shares: Vec::new(),
            }],
            access_history: vec![AccessChange {
                path: file.path.clone(),
                change: "added",
                kind: KeyKind::Age,
                recipient: "age1abc".into(),
                name: Some(evil.into()),
                revoked: Some(evil.into()),
                commit: Some(commit),
                event: EventKind::Created,
            }],
            files: vec![file],
            drift: Vec::new(),
            stale: Vec::new(),
            revoked: Vec::new(),
            plaintext: Vec::new(),
            integrity: vec![Integrity {
                path: "x".into(),
                check: "damaged",
                at: Some(evil.into()),
                detail: evil.into(),
            }],
            notes: vec![evil.into()],
        }
    }
}
