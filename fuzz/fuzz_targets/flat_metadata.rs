//! The flattened metadata loader (dotenv `sops_*` keys, INI `[sops]`): every input line becomes
//! a flattened metadata key, so `__map_`/`__list_N` paths of any shape reach the unflattening
//! code. It must never panic, and never allocate by what an index claims (libFuzzer's RSS
//! limit fails the run if it does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud::metadata::layout;
use shroud::store::{self, Format};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut dotenv = String::new();
    let mut ini = String::from("[sops]\n");
    for line in text.lines().take(200) {
        let (k, v) = line.split_once('=').unwrap_or((line, "v"));
        let k: String = k.chars().filter(|c| !c.is_whitespace() && *c != '#' && *c != ';').collect();
        if k.is_empty() {
            continue;
        }
        dotenv.push_str(&format!("sops_{k}={v}\n"));
        ini.push_str(&format!("{k} = {v}\n"));
    }
    for (format, src) in [(Format::Dotenv, dotenv), (Format::Ini, ini)] {
        if let Ok(mut tree) = store::load_encrypted(format, src.as_bytes())
            && let Ok(Some(meta)) = layout::split(format, &mut tree)
        {
            let _ = layout::parse(&meta);
        }
    }
});
