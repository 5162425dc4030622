//! Boundary markers (界桩): the register, field observations, and how far each marker
//! is from where it was registered.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{BoundaryError, RowProblem};
use crate::geo::Crs;
use crate::geo::measure::geodesic_distance_m;

pub use crate::domain::boundary::{
    BoundaryMarker, Condition, DEFAULT_MARKER_TOLERANCE_M, MarkerNumber, MarkerObservation,
    MarkerType,
};

/// One marker's result, the shape `inspect markers` prints.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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

/// Reads `lon`/`lat`; both empty is no position.
fn coordinate(
    record: &csv::StringRecord,
    lon: usize,
    lat: usize,
    crs: Crs,
) -> Result<Option<(f64, f64)>, String> {
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
        _ => Err(format!(
            "{lon_text:?}, {lat_text:?} is not a longitude and latitude"
        )),
    }
}

/// Reads every record of a CSV file with a header row, collecting the problems of all
/// bad rows rather than stopping at the first, so a surveyor fixes a file in one pass.
fn read_rows<T>(
    text: &str,
    required: &[&str],
    mut read: impl FnMut(&csv::StringRecord, &[usize], &csv::StringRecord) -> Result<T, String>,
) -> Result<Vec<T>, BoundaryError> {
    let mut reader = csv_reader(text);
    let headers = reader
        .headers()
        .map_err(|error| BoundaryError::Csv(error.to_string()))?
        .clone();
    let columns = required
        .iter()
        .map(|name| required_column(&headers, name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |position| position.line());
                match read(&record, &columns, &headers) {
                    Ok(row) => rows.push(row),
                    Err(message) => problems.push(RowProblem { line, message }),
                }
            }
            Err(error) => problems.push(RowProblem {
                line: error.position().map_or(0, |position| position.line()),
                message: error.to_string(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(BoundaryError::Rows(problems))
    }
}

fn optional_text(
    record: &csv::StringRecord,
    headers: &csv::StringRecord,
    name: &str,
) -> Option<String> {
    column(headers, name)
        .and_then(|index| record.get(index))
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Reads the marker register: `number,lon,lat[,type,line]` with a header row, and an
/// optional `note`. A type left out is inferred from the numbers: two markers
/// `12A`/`12B` are a pair, three a triple.
pub fn read_registered_markers(text: &str, crs: Crs) -> Result<Vec<BoundaryMarker>, BoundaryError> {
    Ok(with_inferred_types(read_marker_rows(text, crs)?, &[]))
}

/// The rows of a marker register, each with the type its `type` column states, if any.
pub fn read_marker_rows(
    text: &str,
    crs: Crs,
) -> Result<Vec<(BoundaryMarker, Option<MarkerType>)>, BoundaryError> {
    read_rows(
        text,
        &["number", "lon", "lat"],
        |record, columns, headers| {
            let printed = record.get(columns[0]).unwrap_or("");
            if printed.is_empty() {
                return Err("the marker has no number".into());
            }
            let (lon, lat) = coordinate(record, columns[1], columns[2], crs)?
                .ok_or("a registered marker needs a position")?;
            let marker_type = match optional_text(record, headers, "type") {
                Some(text) => Some(
                    MarkerType::parse(&text)
                        .ok_or_else(|| format!("type {text:?} is not single, pair or triple"))?,
                ),
                None => None,
            };
            Ok((
                BoundaryMarker {
                    number: MarkerNumber::parse(printed),
                    marker_type: MarkerType::Single,
                    lon,
                    lat,
                    line: optional_text(record, headers, "line"),
                    landmarks: Vec::new(),
                    note: optional_text(record, headers, "note"),
                },
                marker_type,
            ))
        },
    )
}

/// Gives each marker without a stated type the one its same-number group implies,
/// counting the group's members among `markers` and among `others` (the register the
/// markers join) whose numbers `markers` does not repeat.
pub fn with_inferred_types(
    markers: Vec<(BoundaryMarker, Option<MarkerType>)>,
    others: &[BoundaryMarker],
) -> Vec<BoundaryMarker> {
    let mut group_sizes: HashMap<String, usize> = HashMap::new();
    let numbers: std::collections::HashSet<&str> = markers
        .iter()
        .map(|(marker, _)| marker.number.printed.as_str())
        .collect();
    let unrepeated = others
        .iter()
        .filter(|other| !numbers.contains(other.number.printed.as_str()));
    for marker in markers.iter().map(|(marker, _)| marker).chain(unrepeated) {
        if marker.number.suffix.is_some() {
            *group_sizes
                .entry(marker.number.stem().to_owned())
                .or_default() += 1;
        }
    }
    markers
        .into_iter()
        .map(|(mut marker, given)| {
            marker.marker_type = given.unwrap_or_else(|| {
                match (marker.number.suffix, group_sizes.get(marker.number.stem())) {
                    (Some(_), Some(3..)) => MarkerType::Triple,
                    (Some(_), Some(2)) => MarkerType::Pair,
                    _ => MarkerType::Single,
                }
            });
            marker
        })
        .collect()
}

/// Reads field observations: `number,lon,lat,condition[,note]` with a header row, and an
/// optional `photos` column of file names separated by `;`. A missing marker has empty
/// coordinates.
pub fn read_observations(text: &str, crs: Crs) -> Result<Vec<MarkerObservation>, BoundaryError> {
    read_rows(
        text,
        &["number", "lon", "lat", "condition"],
        |record, columns, headers| {
            let number = record.get(columns[0]).unwrap_or("");
            if number.is_empty() {
                return Err("the observation has no marker number".into());
            }
            let text = record.get(columns[3]).unwrap_or("");
            let condition = Condition::parse(text).ok_or_else(|| {
                format!(
                    "condition {text:?} is not one of intact, damaged, missing, moved, inscription_faded, landmark_missing"
                )
            })?;
            let position = coordinate(record, columns[1], columns[2], crs)?;
            if position.is_none() && condition != Condition::Missing {
                return Err("only a missing marker may have no position".into());
            }
            let photos = optional_text(record, headers, "photos")
                .map(|names| {
                    names
                        .split(';')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Ok(MarkerObservation {
                number: number.to_owned(),
                lon: position.map(|(lon, _)| lon),
                lat: position.map(|(_, lat)| lat),
                condition,
                note: optional_text(record, headers, "note"),
                photos,
            })
        },
    )
}

/// Millimetres: the precision displacements are reported to.
fn to_millimetres(metres: f64) -> f64 {
    (metres * 1000.0).round() / 1000.0
}

/// Compares observations with the register: one finding per registered marker, in
/// register order, then one per observation of a number the register does not hold.
pub fn compare_markers(
    registered: &[BoundaryMarker],
    observations: &[MarkerObservation],
    tolerance_m: f64,
) -> Vec<MarkerFinding> {
    let mut observed: BTreeMap<&str, &MarkerObservation> = BTreeMap::new();
    for observation in observations {
        observed.insert(observation.number.trim(), observation);
    }
    let mut findings = Vec::with_capacity(registered.len());
    for marker in registered {
        let observation = observed.remove(marker.number.printed.as_str());
        let displacement_m = observation
            .and_then(MarkerObservation::position)
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
