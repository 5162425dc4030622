//! Boundary markers (界桩): the register, field observations, and how far each marker
//! is from where it was registered.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::BoundaryError;
use crate::geo::Crs;
use crate::geo::measure::geodesic_distance_m;

/// Marker displacement allowed before a marker is reported, in metres. Marker positions
/// are surveyed to decimetres, and a marker moved by a metre or more has been disturbed.
pub const DEFAULT_MARKER_TOLERANCE_M: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerType {
    Single,
    /// Two markers with one number, A/B, on either side of a river or road.
    Pair,
    /// Three markers with one number, C/D/E, where three divisions meet.
    Triple,
}

impl MarkerType {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "single" | "单立" => MarkerType::Single,
            "pair" | "同号双立" => MarkerType::Pair,
            "triple" | "同号三立" => MarkerType::Triple,
            _ => return None,
        })
    }
}

/// The parts of a printed marker number such as `鄞奉12A` or `330212-330213-05`: what
/// precedes the sequence number, the number, and the letter of a pair or triple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    fn stem(&self) -> String {
        match self.suffix {
            Some(_) => self.printed[..self.printed.len() - 1].to_owned(),
            None => self.printed.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisteredMarker {
    pub number: MarkerNumber,
    pub lon: f64,
    pub lat: f64,
    pub marker_type: MarkerType,
    pub line: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "intact" => Condition::Intact,
            "damaged" => Condition::Damaged,
            "missing" => Condition::Missing,
            "moved" => Condition::Moved,
            "inscription_faded" => Condition::InscriptionFaded,
            "landmark_missing" => Condition::LandmarkMissing,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub number: String,
    /// WGS84; `None` for a marker that was not found.
    pub position: Option<(f64, f64)>,
    pub condition: Condition,
    pub note: Option<String>,
}

/// One marker's result, the shape `inspect markers` prints.
#[derive(Debug, Clone, Serialize)]
pub struct MarkerFinding {
    pub number: String,
    /// Geodesic metres from the registered position, to the millimetre; null when the
    /// marker was not found or is not registered.
    pub displacement_m: Option<f64>,
    /// Null when the marker was registered but not observed in this round.
    pub condition: Option<Condition>,
    pub exceeds_tolerance: bool,
    pub registered: bool,
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
}

fn column(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|header| header.eq_ignore_ascii_case(name))
}

fn required_column(headers: &csv::StringRecord, name: &str) -> Result<usize, BoundaryError> {
    column(headers, name)
        .ok_or_else(|| BoundaryError::Csv(format!("the header has no {name:?} column")))
}

fn coordinate(
    record: &csv::StringRecord,
    lon: usize,
    lat: usize,
    crs: Crs,
    line: u64,
) -> Result<Option<(f64, f64)>, BoundaryError> {
    let (lon_text, lat_text) = (record.get(lon).unwrap_or(""), record.get(lat).unwrap_or(""));
    if lon_text.is_empty() && lat_text.is_empty() {
        return Ok(None);
    }
    let parse = |text: &str| text.parse::<f64>().ok().filter(|value| value.is_finite());
    match (parse(lon_text), parse(lat_text)) {
        (Some(lon), Some(lat))
            if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) =>
        {
            Ok(Some(crs.to_wgs84(lon, lat)))
        }
        _ => Err(BoundaryError::Csv(format!(
            "line {line}: {lon_text:?}, {lat_text:?} is not a longitude and latitude"
        ))),
    }
}

/// Reads the marker register: `number,lon,lat[,type,line]` with a header row. A type
/// left out is inferred from the numbers: two markers `12A`/`12B` are a pair, three a
/// triple.
pub fn read_registered_markers(
    text: &str,
    crs: Crs,
) -> Result<Vec<RegisteredMarker>, BoundaryError> {
    let mut reader = csv_reader(text);
    let headers = reader
        .headers()
        .map_err(|error| BoundaryError::Csv(error.to_string()))?
        .clone();
    let (number, lon, lat) = (
        required_column(&headers, "number")?,
        required_column(&headers, "lon")?,
        required_column(&headers, "lat")?,
    );
    let (kind, line_column) = (column(&headers, "type"), column(&headers, "line"));
    let mut markers = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| BoundaryError::Csv(error.to_string()))?;
        let line = record.position().map_or(0, |position| position.line());
        let printed = record.get(number).unwrap_or("");
        if printed.is_empty() {
            return Err(BoundaryError::Csv(format!(
                "line {line}: the marker has no number"
            )));
        }
        let (lon, lat) = coordinate(&record, lon, lat, crs, line)?.ok_or_else(|| {
            BoundaryError::Csv(format!("line {line}: a registered marker needs a position"))
        })?;
        let marker_type = match kind
            .and_then(|index| record.get(index))
            .filter(|t| !t.is_empty())
        {
            Some(text) => Some(MarkerType::parse(text).ok_or_else(|| {
                BoundaryError::Csv(format!(
                    "line {line}: type {text:?} is not single, pair or triple"
                ))
            })?),
            None => None,
        };
        markers.push((
            RegisteredMarker {
                number: MarkerNumber::parse(printed),
                lon,
                lat,
                marker_type: MarkerType::Single,
                line: line_column
                    .and_then(|index| record.get(index))
                    .filter(|text| !text.is_empty())
                    .map(str::to_owned),
            },
            marker_type,
        ));
    }
    let mut group_sizes: HashMap<String, usize> = HashMap::new();
    for (marker, _) in &markers {
        if marker.number.suffix.is_some() {
            *group_sizes.entry(marker.number.stem()).or_default() += 1;
        }
    }
    Ok(markers
        .into_iter()
        .map(|(mut marker, given)| {
            marker.marker_type = given.unwrap_or_else(|| {
                match (marker.number.suffix, group_sizes.get(&marker.number.stem())) {
                    (Some(_), Some(3..)) => MarkerType::Triple,
                    (Some(_), Some(2)) => MarkerType::Pair,
                    _ => MarkerType::Single,
                }
            });
            marker
        })
        .collect())
}

/// Reads field observations: `number,lon,lat,condition[,note]` with a header row; a
/// missing marker has empty coordinates.
pub fn read_observations(text: &str, crs: Crs) -> Result<Vec<Observation>, BoundaryError> {
    let mut reader = csv_reader(text);
    let headers = reader
        .headers()
        .map_err(|error| BoundaryError::Csv(error.to_string()))?
        .clone();
    let (number, lon, lat, condition) = (
        required_column(&headers, "number")?,
        required_column(&headers, "lon")?,
        required_column(&headers, "lat")?,
        required_column(&headers, "condition")?,
    );
    let note = column(&headers, "note");
    let mut observations = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| BoundaryError::Csv(error.to_string()))?;
        let line = record.position().map_or(0, |position| position.line());
        let text = record.get(condition).unwrap_or("");
        let condition = Condition::parse(text).ok_or_else(|| {
            BoundaryError::Csv(format!(
                "line {line}: condition {text:?} is not one of intact, damaged, missing, moved, inscription_faded, landmark_missing"
            ))
        })?;
        let position = coordinate(&record, lon, lat, crs, line)?;
        if position.is_none() && condition != Condition::Missing {
            return Err(BoundaryError::Csv(format!(
                "line {line}: only a missing marker may have no position"
            )));
        }
        observations.push(Observation {
            number: record.get(number).unwrap_or("").to_owned(),
            position,
            condition,
            note: note
                .and_then(|index| record.get(index))
                .filter(|text| !text.is_empty())
                .map(str::to_owned),
        });
    }
    Ok(observations)
}

/// Millimetres: the precision displacements are reported to.
fn to_millimetres(metres: f64) -> f64 {
    (metres * 1000.0).round() / 1000.0
}

/// Compares observations with the register: one finding per registered marker, in
/// register order, then one per observation of a number the register does not hold.
pub fn compare_markers(
    registered: &[RegisteredMarker],
    observations: &[Observation],
    tolerance_m: f64,
) -> Vec<MarkerFinding> {
    let mut observed: BTreeMap<&str, &Observation> = BTreeMap::new();
    for observation in observations {
        observed.insert(observation.number.trim(), observation);
    }
    let mut findings = Vec::with_capacity(registered.len());
    for marker in registered {
        let observation = observed.remove(marker.number.printed.as_str());
        let displacement_m = observation
            .and_then(|observation| observation.position)
            .map(|position| {
                to_millimetres(geodesic_distance_m((marker.lon, marker.lat), position))
            });
        findings.push(MarkerFinding {
            number: marker.number.printed.clone(),
            displacement_m,
            condition: observation.map(|observation| observation.condition),
            exceeds_tolerance: displacement_m.is_some_and(|metres| metres > tolerance_m),
            registered: true,
        });
    }
    for observation in observations {
        if observed.contains_key(observation.number.trim()) {
            findings.push(MarkerFinding {
                number: observation.number.clone(),
                displacement_m: None,
                condition: Some(observation.condition),
                exceeds_tolerance: false,
                registered: false,
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_numbers_are_split_into_parts() {
        let parsed = MarkerNumber::parse("鄞奉12A");
        assert_eq!(parsed.prefix.as_deref(), Some("鄞奉"));
        assert_eq!((parsed.sequence, parsed.suffix), (Some(12), Some('A')));
        let parsed = MarkerNumber::parse("330212-330213-05");
        assert_eq!(parsed.prefix.as_deref(), Some("330212-330213"));
        assert_eq!((parsed.sequence, parsed.suffix), (Some(5), None));
        let parsed = MarkerNumber::parse("界桩");
        assert_eq!(
            (parsed.prefix.as_deref(), parsed.sequence),
            (Some("界桩"), None)
        );
    }

    #[test]
    fn types_are_inferred_from_same_number_groups() {
        let csv = "number,lon,lat\n鄞奉01,121.5,29.7\n鄞奉02A,121.51,29.7\n鄞奉02B,121.511,29.7\n\
                   鄞奉03C,121.52,29.7\n鄞奉03D,121.521,29.7\n鄞奉03E,121.522,29.7\n";
        let markers = read_registered_markers(csv, Crs::Wgs84).unwrap();
        let types: Vec<MarkerType> = markers.iter().map(|m| m.marker_type).collect();
        use MarkerType::*;
        assert_eq!(types, [Single, Pair, Pair, Triple, Triple, Triple]);
    }

    #[test]
    fn missing_markers_have_no_displacement_and_strays_are_reported() {
        let registered = read_registered_markers(
            "number,lon,lat\nA1,121.5,29.7\nA2,121.6,29.7\nA3,121.7,29.7\n",
            Crs::Wgs84,
        )
        .unwrap();
        let observed = read_observations(
            "number,lon,lat,condition\nA1,121.50001,29.7,moved\nA2,,,missing\nX9,121.8,29.7,intact\n",
            Crs::Wgs84,
        )
        .unwrap();
        let findings = compare_markers(&registered, &observed, 0.5);
        assert_eq!(findings.len(), 4);
        assert!(findings[0].exceeds_tolerance && findings[0].displacement_m.unwrap() > 0.9);
        assert_eq!(
            (findings[1].displacement_m, findings[1].condition),
            (None, Some(Condition::Missing))
        );
        assert_eq!(findings[2].condition, None, "A3 was not observed");
        assert!(!findings[3].registered);
        assert!(read_observations("number,lon,lat,condition\nA1,,,intact\n", Crs::Wgs84).is_err());
        assert!(read_observations("number,lon,lat,condition\nA1,1,2,gone\n", Crs::Wgs84).is_err());
    }
}
