//! Boundary lines between counties, their markers (界桩) and the joint inspection
//! rounds (联检) that check them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Marker displacement allowed before a marker is reported, in metres. Marker positions
/// are surveyed to decimetres, and a marker moved by a metre or more has been disturbed.
pub const DEFAULT_MARKER_TOLERANCE_M: f64 = 1.0;

/// Offset of a surveyed track from the line allowed before it is reported, in metres:
/// the plotting accuracy of the 1:10,000 maps boundary agreements are drawn on.
pub const DEFAULT_LINE_TOLERANCE_M: f64 = 5.0;

/// The largest tolerance a line may be given, in metres. Anything wider would hide
/// every finding along a county line.
pub const MAX_TOLERANCE_M: f64 = 1_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarkerType {
    Single,
    /// Two markers with one number, A/B, on either side of a river or road.
    Pair,
    /// Three markers with one number, C/D/E, where three divisions meet.
    Triple,
}

impl MarkerType {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerType::Single => "single",
            MarkerType::Pair => "pair",
            MarkerType::Triple => "triple",
        }
    }

    /// Accepts the English names and the terms of the inspection regulations.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "single" | "单立" => MarkerType::Single,
            "pair" | "同号双立" => MarkerType::Pair,
            "triple" | "同号三立" => MarkerType::Triple,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            MarkerType::Single => "单立",
            MarkerType::Pair => "同号双立",
            MarkerType::Triple => "同号三立",
        }
    }
}

/// The parts of a printed marker number such as `鄞奉12A` or `330212-330213-05`: what
/// precedes the sequence number, the number, and the letter of a pair or triple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MarkerNumber {
    pub printed: String,
    pub prefix: Option<String>,
    pub sequence: Option<u32>,
    pub suffix: Option<char>,
}

impl MarkerNumber {
    pub fn parse(printed: &str) -> Self {
        let printed = printed.trim();
        let characters: Vec<char> = printed.chars().collect();
        let mut end = characters.len();
        let suffix = match characters.last() {
            Some(letter) if letter.is_ascii_alphabetic() => {
                end -= 1;
                Some(letter.to_ascii_uppercase())
            }
            _ => None,
        };
        let mut start = end;
        while start > 0 && characters[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let sequence = characters[start..end]
            .iter()
            .collect::<String>()
            .parse()
            .ok();
        let prefix: String = characters[..start].iter().collect();
        let prefix = prefix.trim_end_matches(['-', '_', ' ']).to_owned();
        MarkerNumber {
            printed: printed.to_owned(),
            prefix: (!prefix.is_empty()).then_some(prefix),
            sequence,
            suffix: if sequence.is_some() { suffix } else { None },
        }
    }

    /// The number without its pair or triple letter: the markers sharing it stand together.
    pub fn stem(&self) -> &str {
        match self.suffix {
            Some(_) => &self.printed[..self.printed.len() - 1],
            None => &self.printed,
        }
    }
}

/// A reference landmark (方位物) by which a marker is found again: a bridge, a pylon, a
/// temple. Bearing is from the marker to the landmark, clockwise from true north.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Landmark {
    pub name: String,
    pub bearing_deg: f64,
    pub distance_m: f64,
}

impl Landmark {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a landmark needs a name".into());
        }
        if !(self.bearing_deg.is_finite() && (0.0..360.0).contains(&self.bearing_deg)) {
            return Err(format!(
                "landmark {:?}: bearing_deg must be at least 0 and below 360",
                self.name
            ));
        }
        if !(self.distance_m.is_finite() && self.distance_m > 0.0 && self.distance_m <= 10_000.0) {
            return Err(format!(
                "landmark {:?}: distance_m must be above 0 and at most 10000",
                self.name
            ));
        }
        Ok(())
    }
}

/// A registered boundary marker. Positions are CGCS2000 (WGS84 at metre level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BoundaryMarker {
    pub number: MarkerNumber,
    #[serde(rename = "type")]
    pub marker_type: MarkerType,
    pub lon: f64,
    pub lat: f64,
    /// The line the marker stands on (`330212-330213`), when known.
    pub line: Option<String>,
    pub landmarks: Vec<Landmark>,
    pub note: Option<String>,
}

/// What a surveyor found at a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Intact,
    Damaged,
    Missing,
    Moved,
    InscriptionFaded,
    LandmarkMissing,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::Intact,
        Condition::Damaged,
        Condition::Missing,
        Condition::Moved,
        Condition::InscriptionFaded,
        Condition::LandmarkMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Intact => "intact",
            Condition::Damaged => "damaged",
            Condition::Missing => "missing",
            Condition::Moved => "moved",
            Condition::InscriptionFaded => "inscription_faded",
            Condition::LandmarkMissing => "landmark_missing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Condition::ALL
            .into_iter()
            .find(|condition| condition.as_str() == text.trim())
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Condition::Intact => "完好",
            Condition::Damaged => "损坏",
            Condition::Missing => "丢失",
            Condition::Moved => "移位",
            Condition::InscriptionFaded => "字迹不清",
            Condition::LandmarkMissing => "方位物缺失",
        }
    }
}

/// One marker as a team found it in the field. Positions are WGS84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MarkerObservation {
    pub number: String,
    /// Null for a marker that was not found.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub condition: Condition,
    pub note: Option<String>,
    /// File names of the photos taken at the marker, as the team's camera named them.
    pub photos: Vec<String>,
}

impl MarkerObservation {
    pub fn position(&self) -> Option<(f64, f64)> {
        Some((self.lon?, self.lat?))
    }
}

/// How a line is registered: its name, the agreement that fixed it, its tolerances and,
/// when one was imported, its official geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineSettings {
    /// `330212-330213`: the two county codes, lower first.
    pub line_id: String,
    /// The line's name, e.g. 鄞奉线.
    pub name: Option<String>,
    /// The boundary agreement (界线协议书) the line rests on.
    pub agreement: Option<String>,
    pub marker_tolerance_m: f64,
    pub line_tolerance_m: f64,
    /// GeoJSON LineString or MultiLineString in WGS84, when an official line was imported.
    #[schema(value_type = Option<Object>)]
    pub official_geometry: Option<serde_json::Value>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl LineSettings {
    /// A line nobody has registered yet: no name and the default tolerances.
    pub fn unregistered(line_id: &str) -> Self {
        LineSettings {
            line_id: line_id.to_owned(),
            name: None,
            agreement: None,
            marker_tolerance_m: DEFAULT_MARKER_TOLERANCE_M,
            line_tolerance_m: DEFAULT_LINE_TOLERANCE_M,
            official_geometry: None,
            updated_at: None,
            updated_by: None,
        }
    }
}

/// A dated joint inspection of one line by the teams of both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InspectionRound {
    pub id: i64,
    pub line_id: String,
    pub date: NaiveDate,
    /// The inspecting teams, usually one from each county.
    pub teams: Vec<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// When the stored report was last built; null before the first.
    pub report_built_at: Option<DateTime<Utc>>,
}

/// What an inspection round holds as GeoJSON: surveyed tracks along the line, and the
/// outlines of each side's county as that side submitted them for the topology check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoundFeatureKind {
    Track,
    /// The outline of the line's first (lower-coded) county.
    PolygonA,
    /// The outline of the line's second county.
    PolygonB,
}

impl RoundFeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoundFeatureKind::Track => "track",
            RoundFeatureKind::PolygonA => "polygon_a",
            RoundFeatureKind::PolygonB => "polygon_b",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            RoundFeatureKind::Track,
            RoundFeatureKind::PolygonA,
            RoundFeatureKind::PolygonB,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One GeoJSON geometry of a round, in WGS84.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundFeature {
    pub kind: RoundFeatureKind,
    pub name: String,
    pub geometry: serde_json::Value,
}

/// A round's report as stored: what was signed is what is served, even after the
/// register changes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub round_id: i64,
    pub built_at: DateTime<Utc>,
    pub built_by: String,
    pub json: String,
    pub geojson: String,
    pub html: String,
}
