//! One integration-test binary (ripgrep style): a small harness in `util`, then one module per
//! area. Tests run the real `shroud` binary, real `age`, real files.

mod audit;
mod backup;
mod cli;
#[cfg(feature = "cluster")]
mod controller;
mod differential;
mod docs;
mod eso;
mod fixtures;
mod gitmerge;
mod groups;
mod hardening;
mod interop;
#[cfg(feature = "job")]
mod job;
mod kms;
mod pgp;
mod pq;
mod props;
mod revocation;
mod revoke_redteam;
mod rotation;
mod scan;
mod shamir;
mod sops_argv;
mod sops_mode;
mod util;
