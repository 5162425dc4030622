//! Administrative divisions (行政区划) with their 12-digit NBS codes.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DivisionLevel {
    Province,
    City,
    County,
    Town,
    Village,
}

impl DivisionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            DivisionLevel::Province => "province",
            DivisionLevel::City => "city",
            DivisionLevel::County => "county",
            DivisionLevel::Town => "town",
            DivisionLevel::Village => "village",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "province" => DivisionLevel::Province,
            "city" => DivisionLevel::City,
            "county" => DivisionLevel::County,
            "town" => DivisionLevel::Town,
            "village" => DivisionLevel::Village,
            _ => return None,
        })
    }

    /// How many leading digits of the 12-digit code are significant at this level.
    pub fn significant_digits(self) -> usize {
        match self {
            DivisionLevel::Province => 2,
            DivisionLevel::City => 4,
            DivisionLevel::County => 6,
            DivisionLevel::Town => 9,
            DivisionLevel::Village => 12,
        }
    }
}

impl fmt::Display for DivisionLevel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionCodeError {
    #[error("a division code has 2, 4, 6, 9 or 12 digits; {input:?} does not")]
    Malformed { input: String },
}

/// A division code, always held as 12 ASCII digits (shorter codes are zero-padded:
/// county 鄞州区 330212 is 330212000000).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DivisionCode(String);

impl DivisionCode {
    pub fn parse(input: &str) -> Result<Self, DivisionCodeError> {
        let trimmed = input.trim();
        let well_formed = matches!(trimmed.len(), 2 | 4 | 6 | 9 | 12)
            && trimmed.bytes().all(|byte| byte.is_ascii_digit());
        if !well_formed {
            return Err(DivisionCodeError::Malformed {
                input: input.to_owned(),
            });
        }
        Ok(DivisionCode(format!("{trimmed:0<12}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level the code's digit structure implies: trailing zero groups mark
    /// the levels it does not reach.
    pub fn implied_level(&self) -> DivisionLevel {
        let digits = self.0.as_bytes();
        let zero_from = |start: usize| digits[start..].iter().all(|&digit| digit == b'0');
        if zero_from(2) {
            DivisionLevel::Province
        } else if zero_from(4) {
            DivisionLevel::City
        } else if zero_from(6) {
            DivisionLevel::County
        } else if zero_from(9) {
            DivisionLevel::Town
        } else {
            DivisionLevel::Village
        }
    }

    /// The structural parent code (one level up), `None` for a province.
    pub fn structural_parent(&self) -> Option<DivisionCode> {
        let keep = match self.implied_level() {
            DivisionLevel::Province => return None,
            DivisionLevel::City => 2,
            DivisionLevel::County => 4,
            DivisionLevel::Town => 6,
            DivisionLevel::Village => 9,
        };
        Some(DivisionCode(format!("{:0<12}", &self.0[..keep])))
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// One division as the registry holds it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Division {
    /// 12-digit NBS code.
    pub code: String,
    pub name: String,
    pub short_name: Option<String>,
    pub level: DivisionLevel,
    pub parent_code: Option<String>,
    /// Other names: former names (曾用名), common spellings.
    pub aliases: Vec<String>,
    pub valid_from: Option<NaiveDate>,
    /// Set when the division no longer exists; see `successor_code`.
    pub valid_to: Option<NaiveDate>,
    pub successor_code: Option<String>,
}

impl Division {
    pub fn is_current(&self) -> bool {
        self.valid_to.is_none()
    }

    /// Every name the division can be looked up by, without repeats.
    pub fn lookup_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = std::iter::once(self.name.as_str())
            .chain(self.short_name.as_deref())
            .chain(self.aliases.iter().map(String::as_str))
            .filter(|name| !name.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The name to use inside a composed address: the short form for villages, whose
    /// official names end in the committee (社区居委会 → 社区).
    pub fn name_in_address(&self) -> &str {
        match (self.level, &self.short_name) {
            (DivisionLevel::Village, Some(short_name)) => short_name,
            _ => &self.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_codes_are_zero_padded_to_twelve_digits() {
        assert_eq!(
            DivisionCode::parse("330212").unwrap().as_str(),
            "330212000000"
        );
        assert_eq!(
            DivisionCode::parse("330212001").unwrap().as_str(),
            "330212001000"
        );
        assert_eq!(
            DivisionCode::parse(" 330212001005 ").unwrap().as_str(),
            "330212001005"
        );
        assert_eq!(DivisionCode::parse("33").unwrap().as_str(), "330000000000");
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for input in [
            "",
            "3302",
            "33021",
            "3302120010",
            "33021200100a",
            "３３０２１２",
        ] {
            if input == "3302" {
                continue; // four digits is a city code
            }
            assert!(DivisionCode::parse(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn implied_level_and_structural_parent_follow_the_digit_groups() {
        let village = DivisionCode::parse("330212001005").unwrap();
        assert_eq!(village.implied_level(), DivisionLevel::Village);
        let town = village.structural_parent().unwrap();
        assert_eq!(town.as_str(), "330212001000");
        assert_eq!(town.implied_level(), DivisionLevel::Town);
        let county = town.structural_parent().unwrap();
        assert_eq!(county.as_str(), "330212000000");
        let city = county.structural_parent().unwrap();
        assert_eq!(city.as_str(), "330200000000");
        let province = city.structural_parent().unwrap();
        assert_eq!(province.as_str(), "330000000000");
        assert_eq!(province.structural_parent(), None);
    }
}
