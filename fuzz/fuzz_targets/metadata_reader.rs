//! The metadata reader over every store: arbitrary bytes never panic; metadata that parses
//! re-serializes and parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud::document;
use shroud::metadata::layout;
use shroud::store::Format;

fuzz_target!(|data: &[u8]| {
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
        if let Ok((_, md)) = document::load_encrypted("fuzz", format, data) {
            let map = layout::to_map(&md);
            let back = layout::parse(&map).expect("written metadata parses");
            assert_eq!(back.key_groups.len(), md.key_groups.len());
            assert_eq!(back.all_keys().count(), md.all_keys().count());
            assert_eq!(back.lastmodified, md.lastmodified);
            assert_eq!(back.mac, md.mac);
            assert_eq!(back.rules, md.rules);
        }
    }
});
