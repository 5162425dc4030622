//! The address normaliser and the component canonicaliser on any text: no panic, every
//! output character maps back into the input, and a second pass changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yizhitong::domain::address::AddressComponents;
use yizhitong::text::address_text::normalize_address_text;

fuzz_target!(|text: &str| {
    let normalized = normalize_address_text(text);
    let input_length = text.chars().count();
    assert_eq!(normalized.origins.len(), normalized.text.chars().count());
    for &(start, end) in &normalized.origins {
        assert!(start < end && end <= input_length);
    }
    assert_eq!(normalize_address_text(&normalized.text).text, normalized.text);

    let mut slots = text.split('|').map(|part| Some(part.to_owned()));
    let components = AddressComponents {
        road: slots.next().flatten(),
        road_no: slots.next().flatten(),
        place: slots.next().flatten(),
        building: slots.next().flatten(),
        unit: slots.next().flatten(),
        floor: slots.next().flatten(),
        room: slots.next().flatten(),
    };
    if let Ok(once) = components.canonicalized() {
        assert_eq!(once.canonicalized().ok(), Some(once));
    }
});
