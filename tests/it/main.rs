//! One integration-test binary (ripgrep style): a small harness in `util`, then one module per
//! area. Tests run the real `shroud` binary, real `age`, real files.

mod audit;
mod backup;
mod cli;
mod controller;
mod differential;
mod eso;
mod fixtures;
mod hardening;
mod interop;
mod kms;
mod props;
mod rotation;
mod shamir;
mod sops_mode;
mod util;
