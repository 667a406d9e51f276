//! The `ENC[...]` parser: never panics; what parses re-formats to an equal value; decrypting
//! arbitrary parsed values with a fixed key fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud::crypto::{Cipher, EncValue};
use shroud::secret::DataKey;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(v) = EncValue::parse(s) {
        let again = EncValue::parse(&v.format()).expect("formatted values parse");
        assert_eq!(again, v);
        let key = DataKey::from_slice(&[7u8; 32]).unwrap();
        let _ = Cipher::new(&key).decrypt_parsed(&v, "a:b:");
    }
});
