//! The 20-character standard address code: the 12-digit division code at the time of
//! issue, a 7-digit serial unique within that division, and one ISO 7064 MOD 11-2
//! check character (the scheme of the resident ID card: `0`-`9` or `X`).

use serde::Serialize;

pub const ADDRESS_CODE_LENGTH: usize = 20;
pub const SERIAL_DIGITS: usize = 7;
pub const MAX_SERIAL: u32 = 9_999_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressCodeError {
    #[error("an address code has {ADDRESS_CODE_LENGTH} characters, this one has {actual}")]
    WrongLength { actual: usize },
    #[error("character {position} of the address code must be a digit")]
    NotADigit { position: usize },
    #[error("the check character of the address code is wrong: expected {expected}, found {found}")]
    CheckCharacterMismatch { expected: char, found: char },
    #[error("serial {serial} is outside 1..={MAX_SERIAL}")]
    SerialOutOfRange { serial: u32 },
}

impl AddressCodeError {
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            AddressCodeError::CheckCharacterMismatch { expected, found } => Some(
                serde_json::json!({ "expected_check": expected.to_string(), "found_check": found.to_string() }),
            ),
            AddressCodeError::NotADigit { position } => {
                Some(serde_json::json!({ "position": position }))
            }
            _ => None,
        }
    }
}

/// ISO 7064 MOD 11-2 over a string of ASCII digits. Returns `None` if any
/// character is not a digit.
pub fn mod11_2_check_character(digits: &str) -> Option<char> {
    let mut remainder: u32 = 0;
    for character in digits.chars() {
        let digit = character.to_digit(10)?;
        remainder = ((remainder + digit) * 2) % 11;
    }
    let check = (12 - remainder) % 11;
    Some(if check == 10 {
        'X'
    } else {
        char::from_digit(check, 10).expect("check < 10")
    })
}

/// Builds the code for `serial` under a 12-digit division code.
pub fn compose_address_code(division_code: &str, serial: u32) -> Result<String, AddressCodeError> {
    if serial == 0 || serial > MAX_SERIAL {
        return Err(AddressCodeError::SerialOutOfRange { serial });
    }
    debug_assert_eq!(division_code.len(), 12);
    let body = format!("{division_code}{serial:0width$}", width = SERIAL_DIGITS);
    let check =
        mod11_2_check_character(&body).ok_or(AddressCodeError::NotADigit { position: 1 })?;
    Ok(format!("{body}{check}"))
}

/// The parts of a well-formed code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ValidatedAddressCode {
    pub code: String,
    pub division_code: String,
    pub serial: u32,
    pub check_character: String,
}

/// Checks length, digits and the check character. A lower-case `x` is accepted and
/// normalised, as people type it that way from ID-card habit.
pub fn validate_address_code(input: &str) -> Result<ValidatedAddressCode, AddressCodeError> {
    let characters: Vec<char> = input.trim().chars().collect();
    if characters.len() != ADDRESS_CODE_LENGTH {
        return Err(AddressCodeError::WrongLength {
            actual: characters.len(),
        });
    }
    for (index, character) in characters[..19].iter().enumerate() {
        if !character.is_ascii_digit() {
            return Err(AddressCodeError::NotADigit {
                position: index + 1,
            });
        }
    }
    let found = characters[19].to_ascii_uppercase();
    if !(found.is_ascii_digit() || found == 'X') {
        return Err(AddressCodeError::NotADigit { position: 20 });
    }
    let body: String = characters[..19].iter().collect();
    let expected = mod11_2_check_character(&body).expect("digits checked above");
    if expected != found {
        return Err(AddressCodeError::CheckCharacterMismatch { expected, found });
    }
    Ok(ValidatedAddressCode {
        code: format!("{body}{found}"),
        division_code: body[..12].to_owned(),
        serial: body[12..].parse().expect("seven digits"),
        check_character: found.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character_matches_the_resident_id_card_scheme() {
        // The worked example of GB 11643: 11010519491231002 has check character X.
        assert_eq!(mod11_2_check_character("11010519491231002"), Some('X'));
        assert_eq!(mod11_2_check_character("44052418800101001"), Some('4'));
    }

    #[test]
    fn composed_codes_validate_and_round_trip_their_parts() {
        let code = compose_address_code("330212001000", 42).unwrap();
        assert_eq!(code.len(), 20);
        assert!(code.starts_with("3302120010000000042"));
        let parsed = validate_address_code(&code).unwrap();
        assert_eq!(parsed.division_code, "330212001000");
        assert_eq!(parsed.serial, 42);
    }

    #[test]
    fn every_single_digit_error_is_detected() {
        let code = compose_address_code("330212001005", 1_234_567).unwrap();
        let bytes = code.as_bytes();
        for position in 0..19 {
            for replacement in b'0'..=b'9' {
                if replacement == bytes[position] {
                    continue;
                }
                let mut altered = bytes.to_vec();
                altered[position] = replacement;
                let altered = String::from_utf8(altered).unwrap();
                assert!(validate_address_code(&altered).is_err(), "{altered} passed");
            }
        }
    }

    #[test]
    fn adjacent_transpositions_are_detected() {
        let code = compose_address_code("330521101000", 9_876_501).unwrap();
        let mut characters: Vec<char> = code.chars().collect();
        for position in 0..18 {
            if characters[position] == characters[position + 1] {
                continue;
            }
            characters.swap(position, position + 1);
            let altered: String = characters.iter().collect();
            assert!(validate_address_code(&altered).is_err(), "{altered} passed");
            characters.swap(position, position + 1);
        }
    }

    #[test]
    fn malformed_codes_say_what_is_wrong() {
        assert_eq!(
            validate_address_code("123"),
            Err(AddressCodeError::WrongLength { actual: 3 })
        );
        assert_eq!(
            validate_address_code("33021200100000000A1X"),
            Err(AddressCodeError::NotADigit { position: 18 })
        );
        assert!(compose_address_code("330212001000", 0).is_err());
        assert!(compose_address_code("330212001000", 10_000_000).is_err());
    }

    #[test]
    fn lower_case_x_is_accepted_and_normalised() {
        let mut serial = 1;
        let code = loop {
            let code = compose_address_code("330212001000", serial).unwrap();
            if code.ends_with('X') {
                break code;
            }
            serial += 1;
        };
        let lower = code.to_lowercase();
        assert_eq!(validate_address_code(&lower).unwrap().code, code);
    }
}

#[cfg(test)]
mod check_character_properties {
    use proptest::prelude::*;

    use super::*;

    fn any_code() -> impl Strategy<Value = String> {
        ("[1-9][0-9]{11}", 1..=MAX_SERIAL)
            .prop_map(|(division, serial)| compose_address_code(&division, serial).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn every_single_character_error_is_detected(code in any_code()) {
            prop_assert!(validate_address_code(&code).is_ok());
            let original: Vec<char> = code.chars().collect();
            for position in 0..ADDRESS_CODE_LENGTH {
                for replacement in "0123456789X".chars() {
                    if replacement == original[position] {
                        continue;
                    }
                    let mut altered = original.clone();
                    altered[position] = replacement;
                    let altered: String = altered.into_iter().collect();
                    prop_assert!(validate_address_code(&altered).is_err(), "{} passed", altered);
                }
            }
        }

        #[test]
        fn every_adjacent_transposition_is_detected(code in any_code()) {
            let original: Vec<char> = code.chars().collect();
            for position in 0..ADDRESS_CODE_LENGTH - 1 {
                if original[position] == original[position + 1] {
                    continue;
                }
                let mut altered = original.clone();
                altered.swap(position, position + 1);
                let altered: String = altered.into_iter().collect();
                prop_assert!(validate_address_code(&altered).is_err(), "{} passed", altered);
            }
        }
    }
}
