//! Standard addresses: components in the registrars' canonical form, their identity,
//! the composed standard text, and the lifecycle record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text::normalize::{arabic_number_prefix, clean_component};

/// Longest component the registry accepts, in characters.
pub const MAX_COMPONENT_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ComponentError {
    #[error("{field} is longer than {MAX_COMPONENT_CHARS} characters")]
    TooLong { field: &'static str },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error(transparent)]
    Coordinates(#[from] CoordinateError),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoordinateError {
    #[error("lon and lat must be given together")]
    Incomplete,
    #[error("lon {0} is not a longitude in -180..180")]
    LongitudeOutOfRange(f64),
    #[error("lat {0} is not a latitude in -90..90")]
    LatitudeOutOfRange(f64),
}

/// A point in CGCS2000 / WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

impl GeoPoint {
    /// Accepts both coordinates or neither; NaN and out-of-range values are refused.
    pub fn from_optional(
        lon: Option<f64>,
        lat: Option<f64>,
    ) -> Result<Option<Self>, CoordinateError> {
        match (lon, lat) {
            (None, None) => Ok(None),
            (Some(lon), Some(lat)) => {
                if !(-180.0..=180.0).contains(&lon) {
                    return Err(CoordinateError::LongitudeOutOfRange(lon));
                }
                if !(-90.0..=90.0).contains(&lat) {
                    return Err(CoordinateError::LatitudeOutOfRange(lat));
                }
                Ok(Some(GeoPoint { lon, lat }))
            }
            _ => Err(CoordinateError::Incomplete),
        }
    }
}

/// The parts below the division: a site (road + doorplate, or a named place), then
/// building, unit, floor and room. Each is `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressComponents {
    /// 街路巷, e.g. 天童南路.
    pub road: Option<String>,
    /// 门牌号, canonical `588号`.
    pub road_no: Option<String>,
    /// Named place: 小区, 院落, 大厦, 自然村.
    pub place: Option<String>,
    /// Canonical `3幢`.
    pub building: Option<String>,
    /// Canonical `2单元`.
    pub unit: Option<String>,
    /// Canonical `5层`.
    pub floor: Option<String>,
    /// Canonical `501室`.
    pub room: Option<String>,
}

/// Which component a canonicalisation rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Road,
    RoadNo,
    Place,
    Building,
    Unit,
    Floor,
    Room,
}

impl Slot {
    fn field_name(self) -> &'static str {
        match self {
            Slot::Road => "road",
            Slot::RoadNo => "road_no",
            Slot::Place => "place",
            Slot::Building => "building",
            Slot::Unit => "unit",
            Slot::Floor => "floor",
            Slot::Room => "room",
        }
    }
}

impl AddressComponents {
    /// The registrars' canonical form: Arabic numerals and one suffix per slot
    /// (`12号`, `3幢`, `2单元`, `5层`, `501室`). Idempotent.
    pub fn canonicalized(&self) -> Result<Self, ComponentError> {
        Ok(AddressComponents {
            road: canonical_slot(self.road.as_deref(), Slot::Road)?,
            road_no: canonical_slot(self.road_no.as_deref(), Slot::RoadNo)?,
            place: canonical_slot(self.place.as_deref(), Slot::Place)?,
            building: canonical_slot(self.building.as_deref(), Slot::Building)?,
            unit: canonical_slot(self.unit.as_deref(), Slot::Unit)?,
            floor: canonical_slot(self.floor.as_deref(), Slot::Floor)?,
            room: canonical_slot(self.room.as_deref(), Slot::Room)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.ordered().iter().all(|component| component.is_none())
    }

    fn ordered(&self) -> [&Option<String>; 7] {
        [
            &self.road,
            &self.road_no,
            &self.place,
            &self.building,
            &self.unit,
            &self.floor,
            &self.room,
        ]
    }

    /// Two addresses are the same when division and every canonical component agree.
    /// The unit separator cannot occur in a component (control characters are refused).
    pub fn identity_key(&self, division_code: &str) -> String {
        let mut key = String::from(division_code);
        for component in self.ordered() {
            key.push('\u{1f}');
            key.push_str(component.as_deref().unwrap_or(""));
        }
        key
    }

    /// Standard text: the division chain (province first) followed by the components.
    pub fn compose_standard_text<'a>(
        &self,
        division_names: impl IntoIterator<Item = &'a str>,
    ) -> String {
        let mut text: String = division_names.into_iter().collect();
        for component in self.ordered().into_iter().flatten() {
            text.push_str(component);
        }
        text
    }
}

fn canonical_slot(value: Option<&str>, slot: Slot) -> Result<Option<String>, ComponentError> {
    let Some(raw) = value else { return Ok(None) };
    if raw.chars().any(char::is_control) {
        return Err(ComponentError::ControlCharacter {
            field: slot.field_name(),
        });
    }
    let cleaned = clean_component(raw);
    if cleaned.is_empty() {
        return Ok(None);
    }
    let canonical = match slot {
        Slot::Road | Slot::Place => cleaned,
        Slot::RoadNo => canonical_road_number(&cleaned),
        Slot::Building => with_suffix(&cleaned, &["号楼", "栋", "幢", "#", "座", "号"], "幢"),
        Slot::Unit => with_suffix(&cleaned, &["单元", "单", "门"], "单元"),
        Slot::Floor => canonical_floor(&cleaned),
        Slot::Room => with_suffix(&cleaned, &["室", "房", "号"], "室"),
    };
    if canonical.chars().count() > MAX_COMPONENT_CHARS {
        return Err(ComponentError::TooLong {
            field: slot.field_name(),
        });
    }
    Ok(Some(canonical))
}

/// A stem that reads as a number or a plate-style label: `12`, `A`, `12A`, `B2`.
fn is_label_stem(stem: &str) -> bool {
    !stem.is_empty() && stem.chars().count() <= 8 && stem.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `3`, `三栋`, `3号楼`, `3#` → `3幢`. Anything that is not a number-like label with one
/// of the known suffixes (综合楼, 东楼) is kept as written.
fn with_suffix(cleaned: &str, known_suffixes: &[&str], canonical_suffix: &str) -> String {
    let converted = arabic_number_prefix(cleaned);
    let stem = known_suffixes
        .iter()
        .find_map(|suffix| converted.strip_suffix(suffix))
        .unwrap_or(&converted);
    if is_label_stem(stem) {
        format!("{}{canonical_suffix}", stem.to_ascii_uppercase())
    } else {
        converted
    }
}

/// `12`, `十二号`, `12號` → `12号`; `12-1` → `12-1号` (附号); other forms such as
/// `附1号` or `12号之一` keep their wording with Arabic digits.
fn canonical_road_number(cleaned: &str) -> String {
    let unified = cleaned.replace('號', "号");
    let converted = arabic_number_prefix(&unified);
    let stem = converted.strip_suffix('号').unwrap_or(&converted);
    let is_plain_or_annex = !stem.is_empty()
        && stem
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()))
        && stem.split('-').count() <= 2;
    if is_plain_or_annex {
        format!("{}号", stem.to_ascii_uppercase())
    } else if let Some((number, annex)) = converted.split_once("号之") {
        let annex = arabic_number_prefix(annex);
        format!("{number}号之{annex}")
    } else {
        converted
    }
}

/// `5`, `五楼`, `5F`, `F5` → `5层`; basements `B1`, `负1层`, `地下一层`, `-1` → `地下1层`.
fn canonical_floor(cleaned: &str) -> String {
    let upper = cleaned.to_ascii_uppercase();
    for basement_prefix in ["地下", "负", "B", "-"] {
        if let Some(rest) = upper.strip_prefix(basement_prefix) {
            let number = with_suffix(rest, &["层", "楼", "F"], "层");
            if number
                .strip_suffix('层')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                return format!("地下{number}");
            }
        }
    }
    let without_leading_f = upper
        .strip_prefix('F')
        .filter(|rest| rest.chars().all(|c| c.is_ascii_digit()));
    match without_leading_f {
        Some(rest) if !rest.is_empty() => format!("{rest}层"),
        _ => with_suffix(cleaned, &["层", "楼", "F", "f"], "层"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressStatus {
    Active,
    Retired,
}

impl AddressStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressStatus::Active => "active",
            AddressStatus::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(AddressStatus::Active),
            "retired" => Some(AddressStatus::Retired),
            _ => None,
        }
    }
}

/// A standard address as registered, one version of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandardAddress {
    /// The permanent 20-character code.
    pub code: String,
    /// 12-digit code of the division the address belongs to.
    pub division_code: String,
    #[serde(flatten)]
    pub components: AddressComponents,
    /// Composed canonical text, division chain first.
    pub standard_text: String,
    /// Former names (曾用名) and other spellings.
    pub aliases: Vec<String>,
    /// CGCS2000 / WGS84 longitude.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub status: AddressStatus,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    pub successor_code: Option<String>,
    pub retire_reason: Option<String>,
    /// The registering department's own identifier.
    pub source_id: Option<String>,
    /// Starts at 1; every change adds one.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// What the store needs to write a new version of an address's mutable fields.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressContent {
    pub division_code: String,
    pub components: AddressComponents,
    pub standard_text: String,
    pub aliases: Vec<String>,
    pub point: Option<GeoPoint>,
    pub source_id: Option<String>,
}

impl AddressContent {
    pub fn identity_key(&self) -> String {
        self.components.identity_key(&self.division_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(building: &str) -> Option<String> {
        let components = AddressComponents {
            building: Some(building.into()),
            ..Default::default()
        };
        components.canonicalized().unwrap().building
    }

    #[test]
    fn building_spellings_become_zhuang() {
        for input in ["3", "3栋", "3号楼", "3#", "3座", "三幢", "３幢", "3号"] {
            assert_eq!(canonical(input).as_deref(), Some("3幢"), "{input}");
        }
        assert_eq!(canonical("a座").as_deref(), Some("A幢"));
        assert_eq!(canonical("综合楼").as_deref(), Some("综合楼"));
    }

    #[test]
    fn every_slot_gets_its_canonical_suffix() {
        let raw = AddressComponents {
            road: Some(" 天童 南路".into()),
            road_no: Some("五百八十八號".into()),
            place: Some("九州花园".into()),
            building: Some("12号楼".into()),
            unit: Some("二单元".into()),
            floor: Some("5F".into()),
            room: Some("五零一".into()),
        };
        let canonical = raw.canonicalized().unwrap();
        assert_eq!(canonical.road.as_deref(), Some("天童南路"));
        assert_eq!(canonical.road_no.as_deref(), Some("588号"));
        assert_eq!(
            canonical.place.as_deref(),
            Some("九州花园"),
            "numerals inside names stay"
        );
        assert_eq!(canonical.building.as_deref(), Some("12幢"));
        assert_eq!(canonical.unit.as_deref(), Some("2单元"));
        assert_eq!(canonical.floor.as_deref(), Some("5层"));
        assert_eq!(canonical.room.as_deref(), Some("501室"));
        assert_eq!(canonical.canonicalized().unwrap(), canonical, "idempotent");
    }

    #[test]
    fn floors_and_road_numbers_in_their_other_forms() {
        let floor = |text: &str| canonical_floor(&clean_component(text));
        assert_eq!(floor("五楼"), "5层");
        assert_eq!(floor("F12"), "12层");
        assert_eq!(floor("B1"), "地下1层");
        assert_eq!(floor("地下一层"), "地下1层");
        assert_eq!(floor("-2"), "地下2层");
        // A bare B is a floor named B, not a basement without a number (found by fuzzing).
        assert_eq!(floor("B"), "B层");
        assert_eq!(floor(&floor("地下层")), floor("地下层"));
        assert_eq!(canonical_road_number("12-1"), "12-1号");
        assert_eq!(canonical_road_number("12号之一"), "12号之1");
        assert_eq!(canonical_road_number("附1号"), "附1号");
        assert_eq!(canonical_road_number("12"), "12号");
    }

    #[test]
    fn blank_components_are_absent_and_control_characters_refused() {
        let components = AddressComponents {
            road: Some("  ".into()),
            ..Default::default()
        };
        assert!(components.canonicalized().unwrap().is_empty());
        let components = AddressComponents {
            place: Some("a\u{1f}b".into()),
            ..Default::default()
        };
        assert!(matches!(
            components.canonicalized(),
            Err(ComponentError::ControlCharacter { .. })
        ));
        let components = AddressComponents {
            place: Some("长".repeat(65)),
            ..Default::default()
        };
        assert!(matches!(
            components.canonicalized(),
            Err(ComponentError::TooLong { .. })
        ));
    }

    #[test]
    fn identity_and_text_use_every_component_in_order() {
        let components = AddressComponents {
            road: Some("中山路".into()),
            road_no: Some("1号".into()),
            ..Default::default()
        };
        assert_eq!(
            components.compose_standard_text(["浙江省", "宁波市", "鄞州区"]),
            "浙江省宁波市鄞州区中山路1号"
        );
        let other = AddressComponents {
            place: Some("中山路".into()),
            road_no: Some("1号".into()),
            ..Default::default()
        };
        assert_ne!(
            components.identity_key("330212000000"),
            other.identity_key("330212000000")
        );
    }

    #[test]
    fn coordinates_must_be_complete_and_in_range() {
        assert_eq!(GeoPoint::from_optional(None, None), Ok(None));
        assert!(GeoPoint::from_optional(Some(121.5), None).is_err());
        assert!(GeoPoint::from_optional(Some(f64::NAN), Some(29.8)).is_err());
        assert!(GeoPoint::from_optional(Some(121.5), Some(91.0)).is_err());
        assert!(
            GeoPoint::from_optional(Some(121.5), Some(29.8))
                .unwrap()
                .is_some()
        );
    }
}

#[cfg(test)]
mod canonical_form_properties {
    use proptest::prelude::*;

    use super::*;

    fn component_text() -> impl Strategy<Value = Option<String>> {
        const PIECES: &[&str] = &[
            "一",
            "两",
            "十二",
            "一百零三",
            "〇",
            "3",
            "１２",
            "0",
            "A",
            "号",
            "號",
            "幢",
            "栋",
            "号楼",
            "#",
            "座",
            "单元",
            "门",
            "层",
            "楼",
            "F",
            "室",
            "房",
            "-",
            "之",
            "附",
            "弄",
            "九州花园",
            "天童南路",
            " ",
            "（",
            "）",
            "B",
            "b",
            "负",
            "地下",
        ];
        prop::option::of(
            prop::collection::vec(prop::sample::select(PIECES), 0..6)
                .prop_map(|pieces| pieces.concat()),
        )
    }

    fn any_components() -> impl Strategy<Value = AddressComponents> {
        (
            component_text(),
            component_text(),
            component_text(),
            component_text(),
            component_text(),
            component_text(),
            component_text(),
        )
            .prop_map(|(road, road_no, place, building, unit, floor, room)| {
                AddressComponents {
                    road,
                    road_no,
                    place,
                    building,
                    unit,
                    floor,
                    room,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn canonicalising_twice_changes_nothing(components in any_components()) {
            if let Ok(once) = components.canonicalized() {
                let twice = once.canonicalized();
                prop_assert!(
                    matches!(&twice, Ok(twice) if *twice == once),
                    "{:?} became {:?}, then {:?}", components, once, twice
                );
            }
        }
    }
}
