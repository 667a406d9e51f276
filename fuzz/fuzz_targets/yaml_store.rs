//! The YAML store: arbitrary input never panics, and whatever parses is written back as YAML
//! that parses again (the emitter never produces invalid YAML).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud::store::{self, EmitOptions, Format};

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    if let Ok(tree) = store::load_plain(Format::Yaml, data) {
        let out = store::emit(Format::Yaml, &tree, EmitOptions::default()).expect("parsed trees emit");
        if let Err(e) = store::load_plain(Format::Yaml, &out) {
            panic!("emitted YAML does not parse: {e}\n{}", String::from_utf8_lossy(&out));
        }
    }
});
