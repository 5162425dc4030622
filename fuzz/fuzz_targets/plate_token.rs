//! The doorplate token verifier on any text: no panic, nothing it did not sign is
//! accepted, and every id it signs comes back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yizhitong::doorplate::token::{MAX_PLATE_ID, PlateTokens};

fuzz_target!(|input: (&str, i64)| {
    let (text, id) = input;
    let tokens = PlateTokens::new(b"fuzzing secret");
    if let Some(verified) = tokens.verify(text) {
        // Only a token this key signed verifies, and it signs to exactly that text.
        assert_eq!(tokens.sign(verified), text);
    }
    let id = id.rem_euclid(MAX_PLATE_ID) + 1;
    assert_eq!(tokens.verify(&tokens.sign(id)), Some(id));
    let other = PlateTokens::new(b"another secret");
    assert_eq!(other.verify(&tokens.sign(id)), None);
});
