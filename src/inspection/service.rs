//! The inspection register as a service: line registration, the marker register,
//! inspection rounds with their observations and GeoJSON, and the stored reports. The
//! API and the command line both go through it; it knows nothing of HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, SubsecRound, Utc};
use geo::{Distance, Geodesic, LineString, MultiLineString, MultiPolygon, Point};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::county_lines::{CountyLines, DEFAULT_MISPLACED_WITHIN_M, line_id};
use super::lines::BoundaryLine;
use super::markers::{read_marker_rows, read_observations, with_inferred_types};
use super::report::{
    InspectionReport, MarkerSummary, MarkerVerdict, ReportInputs, ReportLine, ReportSide,
    build_report, report_geojson,
};
use super::report_html::render_report_html;
use super::topology::{DEFAULT_GAP_WIDTH_M, check_topology};
use super::tracks::{read_line_features, track_offsets};
use super::{BoundaryError, RowProblem, read_division_shapes};
use crate::domain::boundary::{
    BoundaryMarker, Condition, InspectionRound, Landmark, LineSettings, MAX_TOLERANCE_M,
    MarkerNumber, MarkerObservation, MarkerType, RoundFeature, RoundFeatureKind, StoredReport,
};
use crate::geo::{Crs, round_degrees};
use crate::index::polygons::parse_multipolygon;
use crate::registry::Registry;
use crate::store::{Actor, NewRound, Store, StoreError};

const MAX_NAME_CHARS: usize = 100;
const MAX_NOTE_CHARS: usize = 1_000;
const MAX_TEAMS: usize = 8;
const MAX_LANDMARKS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum InspectionError {
    #[error("no boundary line {0:?} between two counties with polygons")]
    LineNotFound(String),
    #[error("line {line} has no marker {number:?}")]
    MarkerNotFound { line: String, number: String },
    #[error("no inspection round {0}")]
    RoundNotFound(i64),
    #[error("inspection round {0} has no report yet: build it first")]
    ReportNotFound(i64),
    #[error("{0}")]
    Invalid(String),
    #[error("the report could not be built: {0}")]
    ReportFailed(String),
    #[error(transparent)]
    File(#[from] BoundaryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = InspectionError> = std::result::Result<T, E>;

/// `PUT /v1/boundaries/{id}`: a line's name, agreement and tolerances.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRegistration {
    /// e.g. 鄞奉线.
    pub name: Option<String>,
    /// The boundary agreement (界线协议书) the line rests on.
    pub agreement: Option<String>,
    /// Default 1 m.
    pub marker_tolerance_m: Option<f64>,
    /// Default 5 m.
    pub line_tolerance_m: Option<f64>,
}

/// A marker's registered particulars, in the crs of the request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkerRequest {
    pub lon: f64,
    pub lat: f64,
    /// Inferred from the number and its same-number siblings when left out.
    #[serde(rename = "type")]
    pub marker_type: Option<MarkerType>,
    #[serde(default)]
    pub landmarks: Vec<Landmark>,
    pub note: Option<String>,
}

/// `POST /v1/boundaries/{id}/inspections`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundRequest {
    /// The day the line was inspected, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The inspecting teams, usually one from each county: 1 to 8 names.
    pub teams: Vec<String>,
    pub note: Option<String>,
}

/// A line's rounds side by side, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundComparison {
    pub line_id: String,
    pub rounds: Vec<RoundSummary>,
    /// Every marker any report names, with what each round found.
    pub markers: Vec<MarkerHistory>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundSummary {
    pub id: i64,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub teams: Vec<String>,
    /// False for a round whose report was never built: its figures are null.
    pub reported: bool,
    pub summary: Option<MarkerSummary>,
    pub track_max_offset_m: Option<f64>,
    pub overlap_m2: Option<f64>,
    pub gap_m2: Option<f64>,
    pub findings: Option<usize>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MarkerHistory {
    pub number: String,
    /// One entry per reported round, oldest first; null where the round's report does
    /// not name the marker.
    pub rounds: Vec<Option<MarkerRoundEntry>>,
    /// Displacement in the latest round that measured one minus that in the earliest:
    /// a marker creeping away shows here before it passes the tolerance.
    pub displacement_change_m: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MarkerRoundEntry {
    pub round_id: i64,
    pub condition: Option<Condition>,
    pub displacement_m: Option<f64>,
    pub verdict: MarkerVerdict,
}

fn checked_text(value: Option<String>, field: &str, limit: usize) -> Result<Option<String>> {
    let value = value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    if let Some(text) = &value
        && text.chars().count() > limit
    {
        return Err(InspectionError::Invalid(format!(
            "{field} is longer than {limit} characters"
        )));
    }
    Ok(value)
}

fn checked_tolerance(value: Option<f64>, default: f64, field: &str) -> Result<f64> {
    match value {
        None => Ok(default),
        Some(metres) if metres.is_finite() && metres > 0.0 && metres <= MAX_TOLERANCE_M => {
            Ok(metres)
        }
        Some(metres) => Err(InspectionError::Invalid(format!(
            "{field} must be above 0 and at most {MAX_TOLERANCE_M}; got {metres}"
        ))),
    }
}

/// A longitude and latitude in range (NaN and infinities are in no range).
fn is_lon_lat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

fn checked_position(lon: f64, lat: f64, crs: Crs) -> Result<(f64, f64)> {
    if !is_lon_lat(lon, lat) {
        return Err(InspectionError::Invalid(format!(
            "{lon}, {lat} is not a longitude and latitude"
        )));
    }
    // Kept unrounded: displacements are reported to the millimetre, and rounding to
    // 1e-7° alone would move a marker by up to a centimetre.
    Ok(crs.to_wgs84(lon, lat))
}

/// GeoJSON of line parts, WGS84 to 1e-7°.
pub fn lines_geojson(parts: &[LineString<f64>]) -> Value {
    let coordinates: Vec<Vec<[f64; 2]>> = parts
        .iter()
        .map(|part| {
            part.coords()
                .map(|coord| [round_degrees(coord.x), round_degrees(coord.y)])
                .collect()
        })
        .collect();
    if coordinates.len() == 1 {
        json!({"type": "LineString", "coordinates": coordinates[0]})
    } else {
        json!({"type": "MultiLineString", "coordinates": coordinates})
    }
}

fn geodesic_length_m(parts: &[LineString<f64>]) -> f64 {
    parts
        .iter()
        .flat_map(|part| part.lines())
        .map(|segment| Geodesic.distance(Point::from(segment.start), Point::from(segment.end)))
        .sum()
}

/// Registered markers whose same-number group the new `markers` join: a lettered
/// marker registered alone as single becomes one of a pair when its partner arrives.
fn regrouped_siblings(
    markers: &[BoundaryMarker],
    existing: &[BoundaryMarker],
) -> Vec<BoundaryMarker> {
    existing
        .iter()
        .filter(|sibling| sibling.number.suffix.is_some())
        .filter(|sibling| {
            !markers
                .iter()
                .any(|marker| marker.number.printed == sibling.number.printed)
        })
        .filter_map(|sibling| {
            let group_type = markers
                .iter()
                .find(|marker| {
                    marker.number.suffix.is_some() && marker.number.stem() == sibling.number.stem()
                })?
                .marker_type;
            (group_type != sibling.marker_type).then(|| BoundaryMarker {
                marker_type: group_type,
                ..sibling.clone()
            })
        })
        .collect()
}

pub struct InspectionService {
    store: Arc<dyn Store>,
    lines: Arc<CountyLines>,
    registry: Arc<Registry>,
}

impl InspectionService {
    pub fn new(store: Arc<dyn Store>, lines: Arc<CountyLines>, registry: Arc<Registry>) -> Self {
        InspectionService {
            store,
            lines,
            registry,
        }
    }

    pub fn county_lines(&self) -> &CountyLines {
        &self.lines
    }

    pub fn line(&self, id: &str) -> Result<&BoundaryLine> {
        self.lines
            .line(id)
            .ok_or_else(|| InspectionError::LineNotFound(id.to_owned()))
    }

    /// A line's registered settings, or the defaults of an unregistered one.
    pub async fn settings(&self, id: &str) -> Result<LineSettings> {
        self.line(id)?;
        Ok(self
            .store
            .line_settings(id)
            .await?
            .unwrap_or_else(|| LineSettings::unregistered(id)))
    }

    /// Every registered line's settings, by id.
    pub async fn all_settings(&self) -> Result<BTreeMap<String, LineSettings>> {
        Ok(self
            .store
            .all_line_settings()
            .await?
            .into_iter()
            .map(|settings| (settings.line_id.clone(), settings))
            .collect())
    }

    pub async fn register_line(
        &self,
        id: &str,
        registration: LineRegistration,
        actor: &Actor,
    ) -> Result<LineSettings> {
        let mut settings = self.settings(id).await?;
        settings.name = checked_text(registration.name, "name", MAX_NAME_CHARS)?;
        settings.agreement = checked_text(registration.agreement, "agreement", MAX_NOTE_CHARS)?;
        settings.marker_tolerance_m = checked_tolerance(
            registration.marker_tolerance_m,
            crate::domain::boundary::DEFAULT_MARKER_TOLERANCE_M,
            "marker_tolerance_m",
        )?;
        settings.line_tolerance_m = checked_tolerance(
            registration.line_tolerance_m,
            crate::domain::boundary::DEFAULT_LINE_TOLERANCE_M,
            "line_tolerance_m",
        )?;
        Ok(self.store.put_line_settings(&settings, actor).await?)
    }

    /// Stores the official geometry of a line from GeoJSON (a FeatureCollection, Feature
    /// or bare LineString/MultiLineString) in `crs`.
    pub async fn import_official_line(
        &self,
        id: &str,
        geojson: &str,
        crs: Crs,
        actor: &Actor,
    ) -> Result<LineSettings> {
        let mut settings = self.settings(id).await?;
        let parts: Vec<LineString<f64>> = read_line_features(geojson, crs)?
            .into_iter()
            .map(|(_, part)| part)
            .collect();
        if parts.iter().any(|part| part.0.len() < 2) {
            return Err(InspectionError::Invalid(
                "every part of the official line needs at least two points".into(),
            ));
        }
        if parts
            .iter()
            .flat_map(|part| part.coords())
            .any(|coord| !is_lon_lat(coord.x, coord.y))
        {
            return Err(InspectionError::Invalid(
                "the official line has a position outside longitude and latitude".into(),
            ));
        }
        settings.official_geometry = Some(lines_geojson(&parts));
        Ok(self.store.put_line_settings(&settings, actor).await?)
    }

    pub async fn markers(&self, id: &str) -> Result<Vec<BoundaryMarker>> {
        self.line(id)?;
        Ok(self.store.markers_of_line(id).await?)
    }

    pub async fn marker(&self, id: &str, number: &str) -> Result<BoundaryMarker> {
        self.markers(id)
            .await?
            .into_iter()
            .find(|marker| marker.number.printed == number)
            .ok_or_else(|| InspectionError::MarkerNotFound {
                line: id.to_owned(),
                number: number.to_owned(),
            })
    }

    /// Creates or replaces one marker.
    pub async fn put_marker(
        &self,
        id: &str,
        number: &str,
        request: MarkerRequest,
        crs: Crs,
        actor: &Actor,
    ) -> Result<BoundaryMarker> {
        let number = number.trim();
        if number.is_empty() || number.chars().count() > 64 {
            return Err(InspectionError::Invalid(
                "a marker number has 1 to 64 characters".into(),
            ));
        }
        if request.landmarks.len() > MAX_LANDMARKS {
            return Err(InspectionError::Invalid(format!(
                "a marker has at most {MAX_LANDMARKS} landmarks"
            )));
        }
        for landmark in &request.landmarks {
            landmark.validate().map_err(InspectionError::Invalid)?;
        }
        let (lon, lat) = checked_position(request.lon, request.lat, crs)?;
        let existing = self.markers(id).await?;
        let marker = BoundaryMarker {
            number: MarkerNumber::parse(number),
            marker_type: MarkerType::Single,
            lon,
            lat,
            line: Some(id.to_owned()),
            landmarks: request.landmarks,
            note: checked_text(request.note, "note", MAX_NOTE_CHARS)?,
        };
        let marker = with_inferred_types(vec![(marker, request.marker_type)], &existing).remove(0);
        let mut written = vec![marker.clone()];
        written.extend(regrouped_siblings(&written, &existing));
        self.store.put_markers(&written, actor).await?;
        Ok(marker)
    }

    pub async fn delete_marker(&self, id: &str, number: &str, actor: &Actor) -> Result<()> {
        self.line(id)?;
        if self.store.delete_marker(id, number, actor).await? {
            Ok(())
        } else {
            Err(InspectionError::MarkerNotFound {
                line: id.to_owned(),
                number: number.to_owned(),
            })
        }
    }

    /// Imports a marker register CSV (`number,lon,lat[,type,line]`) into the line, all
    /// rows or none. Markers already registered under the same number are replaced;
    /// their landmarks are kept.
    pub async fn import_markers(
        &self,
        id: &str,
        csv: &str,
        crs: Crs,
        actor: &Actor,
    ) -> Result<Vec<BoundaryMarker>> {
        let existing = self.markers(id).await?;
        let rows = read_marker_rows(csv, crs)?;
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (row, (marker, _)) in rows.iter().enumerate() {
            let line = row as u64 + 2;
            if let Some(other) = &marker.line
                && other != id
            {
                problems.push(RowProblem {
                    line,
                    message: format!("the marker is on line {other}, not {id}"),
                });
            }
            if !seen.insert(marker.number.printed.clone()) {
                problems.push(RowProblem {
                    line,
                    message: format!("marker {} appears twice", marker.number.printed),
                });
            }
        }
        if !problems.is_empty() {
            return Err(BoundaryError::Rows(problems).into());
        }
        // Types the file leaves out are inferred against the register as well as the
        // file: a pair whose other half is already registered is a pair.
        let given: Vec<(BoundaryMarker, Option<MarkerType>)> = rows
            .into_iter()
            .map(|(mut marker, stated)| {
                marker.line = Some(id.to_owned());
                if let Some(previous) = existing
                    .iter()
                    .find(|previous| previous.number.printed == marker.number.printed)
                {
                    marker.landmarks = previous.landmarks.clone();
                }
                (marker, stated)
            })
            .collect();
        let mut markers = with_inferred_types(given, &existing);
        let regrouped = regrouped_siblings(&markers, &existing);
        markers.extend(regrouped);
        self.store.put_markers(&markers, actor).await?;
        Ok(markers)
    }

    pub async fn create_round(
        &self,
        id: &str,
        request: RoundRequest,
        actor: &Actor,
    ) -> Result<InspectionRound> {
        self.line(id)?;
        let teams: Vec<String> = request
            .teams
            .iter()
            .map(|team| team.trim().to_owned())
            .collect();
        if teams.is_empty() || teams.len() > MAX_TEAMS {
            return Err(InspectionError::Invalid(format!(
                "a round has 1 to {MAX_TEAMS} teams"
            )));
        }
        if teams
            .iter()
            .any(|team| team.is_empty() || team.chars().count() > MAX_NAME_CHARS)
        {
            return Err(InspectionError::Invalid(format!(
                "a team name has 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        let round = NewRound {
            line_id: id.to_owned(),
            date: request.date,
            teams,
            note: checked_text(request.note, "note", MAX_NOTE_CHARS)?,
        };
        Ok(self.store.create_round(&round, actor).await?)
    }

    pub async fn rounds(&self, id: &str) -> Result<Vec<InspectionRound>> {
        self.line(id)?;
        Ok(self.store.rounds_of_line(id).await?)
    }

    pub async fn round(&self, round_id: i64) -> Result<InspectionRound> {
        self.store
            .round(round_id)
            .await?
            .ok_or(InspectionError::RoundNotFound(round_id))
    }

    pub async fn observations(&self, round_id: i64) -> Result<Vec<MarkerObservation>> {
        self.round(round_id).await?;
        Ok(self.store.observations(round_id).await?)
    }

    /// Imports an observations CSV into a round, all rows or none; a marker observed
    /// again replaces its earlier observation in the round.
    pub async fn import_observations(
        &self,
        round_id: i64,
        csv: &str,
        crs: Crs,
        actor: &Actor,
    ) -> Result<Vec<MarkerObservation>> {
        self.round(round_id).await?;
        let observations = read_observations(csv, crs)?;
        let mut seen = std::collections::HashSet::new();
        let problems: Vec<RowProblem> = observations
            .iter()
            .enumerate()
            .filter(|(_, observation)| !seen.insert(observation.number.trim().to_owned()))
            .map(|(row, observation)| RowProblem {
                line: row as u64 + 2,
                message: format!("marker {} is observed twice", observation.number),
            })
            .collect();
        if !problems.is_empty() {
            return Err(BoundaryError::Rows(problems).into());
        }
        let observations: Vec<MarkerObservation> = observations
            .into_iter()
            .map(|mut observation| {
                observation.number = observation.number.trim().to_owned();
                observation
            })
            .collect();
        self.store
            .put_observations(round_id, &observations, actor)
            .await?;
        Ok(observations)
    }

    /// Replaces the round's surveyed tracks with the line features of a GeoJSON file.
    pub async fn import_tracks(
        &self,
        round_id: i64,
        geojson: &str,
        crs: Crs,
        actor: &Actor,
    ) -> Result<Vec<String>> {
        self.round(round_id).await?;
        let parts = read_line_features(geojson, crs)?;
        if parts.iter().any(|(_, part)| part.0.len() < 2) {
            return Err(InspectionError::Invalid(
                "every track needs at least two points".into(),
            ));
        }
        if parts
            .iter()
            .flat_map(|(_, part)| part.coords())
            .any(|coord| !is_lon_lat(coord.x, coord.y))
        {
            return Err(InspectionError::Invalid(
                "a track has a position outside longitude and latitude".into(),
            ));
        }
        let features: Vec<RoundFeature> = parts
            .into_iter()
            .map(|(name, part)| RoundFeature {
                kind: RoundFeatureKind::Track,
                name,
                geometry: lines_geojson(std::slice::from_ref(&part)),
            })
            .collect();
        self.store
            .replace_round_features(round_id, RoundFeatureKind::Track, &features, actor)
            .await?;
        Ok(features.into_iter().map(|feature| feature.name).collect())
    }

    /// Stores one side's county outline, as that side submitted it for this round.
    pub async fn import_outline(
        &self,
        round_id: i64,
        county: &str,
        geojson: &str,
        crs: Crs,
        actor: &Actor,
    ) -> Result<()> {
        let round = self.round(round_id).await?;
        let line = self.line(&round.line_id)?;
        let is = |code: &str| county == code || county == &code[..6];
        let kind = if is(&line.a) {
            RoundFeatureKind::PolygonA
        } else if is(&line.b) {
            RoundFeatureKind::PolygonB
        } else {
            return Err(InspectionError::Invalid(format!(
                "{county} is not one of the line's counties {} and {}",
                &line.a[..6],
                &line.b[..6]
            )));
        };
        let shapes = read_division_shapes(geojson, None, crs).or_else(|error| match error {
            BoundaryError::NoCodeField { .. } => read_division_shapes(geojson, Some("name"), crs),
            other => Err(other),
        })?;
        let outline =
            MultiPolygon::new(shapes.into_iter().flat_map(|shape| shape.shape.0).collect());
        let geometry =
            crate::index::polygons::multipolygon_geojson(&outline, |lon, lat| (lon, lat));
        self.store
            .replace_round_features(
                round_id,
                kind,
                &[RoundFeature {
                    kind,
                    name: county.to_owned(),
                    geometry,
                }],
                actor,
            )
            .await?;
        Ok(())
    }

    /// Builds the round's report from the register as it stands and stores it.
    pub async fn build_report(&self, round_id: i64, actor: &Actor) -> Result<StoredReport> {
        let round = self.round(round_id).await?;
        let settings = self.settings(&round.line_id).await?;
        let registered = self.store.markers_of_line(&round.line_id).await?;
        let observations = self.store.observations(round_id).await?;
        let features = self.store.round_features(round_id).await?;
        let lines = self.lines.clone();
        let registry = self.registry.clone();
        let built_by = actor.name.clone();
        let built = tokio::task::spawn_blocking(move || {
            compose_report(
                &lines,
                &registry,
                &round,
                &settings,
                &registered,
                &observations,
                &features,
                built_by,
            )
        })
        .await
        .map_err(|error| InspectionError::ReportFailed(error.to_string()))??;
        self.store.put_report(&built, actor).await?;
        Ok(built)
    }

    pub async fn report(&self, round_id: i64) -> Result<StoredReport> {
        self.round(round_id).await?;
        self.store
            .report(round_id)
            .await?
            .ok_or(InspectionError::ReportNotFound(round_id))
    }

    /// The stored report of a round, built first when the round has none.
    pub async fn report_or_build(&self, round_id: i64, actor: &Actor) -> Result<StoredReport> {
        match self.report(round_id).await {
            Err(InspectionError::ReportNotFound(_)) => self.build_report(round_id, actor).await,
            other => other,
        }
    }

    /// The line's rounds side by side, from their stored reports.
    pub async fn compare_rounds(&self, id: &str) -> Result<RoundComparison> {
        let rounds = self.rounds(id).await?;
        let mut summaries = Vec::with_capacity(rounds.len());
        let mut reports: Vec<InspectionReport> = Vec::new();
        for round in &rounds {
            let report = match self.store.report(round.id).await? {
                Some(stored) => Some(
                    serde_json::from_str::<InspectionReport>(&stored.json).map_err(|error| {
                        StoreError::CorruptRow(format!(
                            "the stored report of round {} cannot be read: {error}",
                            round.id
                        ))
                    })?,
                ),
                None => None,
            };
            summaries.push(RoundSummary {
                id: round.id,
                date: round.date,
                teams: round.teams.clone(),
                reported: report.is_some(),
                summary: report.as_ref().map(|report| report.summary.clone()),
                track_max_offset_m: report.as_ref().and_then(|report| {
                    report
                        .tracks
                        .iter()
                        .map(|track| track.max_offset_m)
                        .reduce(f64::max)
                }),
                overlap_m2: report.as_ref().map(|report| report.topology.overlap_m2),
                gap_m2: report.as_ref().map(|report| report.topology.gap_m2),
                findings: report.as_ref().map(|report| report.findings.len()),
            });
            reports.extend(report);
        }
        let mut numbers: Vec<String> = reports
            .iter()
            .flat_map(|report| report.markers.iter().map(|marker| marker.number.clone()))
            .collect();
        numbers.sort_by_key(|number| {
            let parsed = MarkerNumber::parse(number);
            (parsed.prefix, parsed.sequence, number.clone())
        });
        numbers.dedup();
        let markers = numbers
            .into_iter()
            .map(|number| {
                let entries: Vec<Option<MarkerRoundEntry>> = reports
                    .iter()
                    .map(|report| {
                        report
                            .markers
                            .iter()
                            .find(|marker| marker.number == number)
                            .map(|marker| MarkerRoundEntry {
                                round_id: report.round.id,
                                condition: marker.condition,
                                displacement_m: marker.displacement_m,
                                verdict: marker.verdict,
                            })
                    })
                    .collect();
                let measured: Vec<f64> = entries
                    .iter()
                    .flatten()
                    .filter_map(|entry| entry.displacement_m)
                    .collect();
                let displacement_change_m = (measured.len() >= 2).then(|| {
                    ((measured[measured.len() - 1] - measured[0]) * 1000.0).round() / 1000.0
                });
                MarkerHistory {
                    number,
                    rounds: entries,
                    displacement_change_m,
                }
            })
            .collect();
        Ok(RoundComparison {
            line_id: id.to_owned(),
            rounds: summaries,
            markers,
        })
    }
}

/// Computes everything a report holds and renders its three forms. CPU-bound: the
/// topology check alone takes seconds on a whole county.
#[allow(clippy::too_many_arguments)]
fn compose_report(
    lines: &CountyLines,
    registry: &Registry,
    round: &InspectionRound,
    settings: &LineSettings,
    registered: &[BoundaryMarker],
    observations: &[MarkerObservation],
    features: &[RoundFeature],
    built_by: String,
) -> Result<StoredReport> {
    let line = lines
        .line(&round.line_id)
        .ok_or_else(|| InspectionError::LineNotFound(round.line_id.clone()))?;
    let official: Option<Vec<LineString<f64>>> = settings
        .official_geometry
        .as_ref()
        .map(|geometry| {
            read_line_features(&geometry.to_string(), Crs::Wgs84)
                .map(|parts| parts.into_iter().map(|(_, part)| part).collect())
        })
        .transpose()?;
    let reference: Vec<LineString<f64>> =
        official.clone().unwrap_or_else(|| line.geometry.0.clone());
    let tracks: Vec<(String, LineString<f64>)> = features
        .iter()
        .filter(|feature| feature.kind == RoundFeatureKind::Track)
        .map(|feature| {
            read_line_features(&feature.geometry.to_string(), Crs::Wgs84)
                .map(|mut parts| (feature.name.clone(), parts.remove(0).1))
        })
        .collect::<Result<_, _>>()?;
    let track_geometries: Vec<(String, Value)> = features
        .iter()
        .filter(|feature| feature.kind == RoundFeatureKind::Track)
        .map(|feature| (feature.name.clone(), feature.geometry.clone()))
        .collect();
    let offsets = track_offsets(
        &MultiLineString::new(reference.clone()),
        &tracks,
        settings.line_tolerance_m,
    );
    let outline = |kind: RoundFeatureKind| -> Result<Option<MultiPolygon<f64>>> {
        features
            .iter()
            .find(|feature| feature.kind == kind)
            .map(|feature| {
                parse_multipolygon(&feature.geometry.to_string()).map_err(|error| {
                    StoreError::CorruptRow(format!("a stored outline cannot be read: {error}"))
                        .into()
                })
            })
            .transpose()
    };
    let (topology, source) = match (
        outline(RoundFeatureKind::PolygonA)?,
        outline(RoundFeatureKind::PolygonB)?,
    ) {
        (Some(a), Some(b)) => (check_topology(&a, &b, DEFAULT_GAP_WIDTH_M), "submitted"),
        _ => {
            let empty = MultiPolygon::new(Vec::new());
            let a = lines.county_shape(&line.a).unwrap_or(&empty);
            let b = lines.county_shape(&line.b).unwrap_or(&empty);
            (check_topology(a, b, DEFAULT_GAP_WIDTH_M), "registry")
        }
    };
    let misplaced = {
        let index = registry
            .address_index()
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.misplaced_addresses(line, DEFAULT_MISPLACED_WITHIN_M, &index)
    };
    let divisions = registry.divisions();
    let side = |code: &str| ReportSide {
        code: code[..6].to_owned(),
        name: divisions
            .get(code)
            .map_or_else(|| code[..6].to_owned(), |division| division.name),
    };
    let report_line = ReportLine {
        id: line_id(line),
        name: settings.name.clone(),
        agreement: settings.agreement.clone(),
        a: side(&line.a),
        b: side(&line.b),
        length_m: (line.length_m * 10.0).round() / 10.0,
        official_length_m: official
            .as_deref()
            .map(|parts| (geodesic_length_m(parts) * 10.0).round() / 10.0),
        marker_tolerance_m: settings.marker_tolerance_m,
        line_tolerance_m: settings.line_tolerance_m,
        geometry: lines_geojson(&reference),
    };
    let built_at = Utc::now().trunc_subsecs(6);
    let report = build_report(ReportInputs {
        round,
        line: report_line,
        registered,
        observations,
        tracks: offsets,
        topology: &topology,
        topology_source: source,
        misplaced_within_m: DEFAULT_MISPLACED_WITHIN_M,
        misplaced_addresses: misplaced,
        built_at,
        built_by: built_by.clone(),
    });
    let geojson = report_geojson(&report, &track_geometries, &topology);
    let html = render_report_html(&report, &track_geometries, &topology);
    Ok(StoredReport {
        round_id: round.id,
        built_at,
        built_by,
        json: serde_json::to_string_pretty(&report).expect("reports serialise"),
        geojson: serde_json::to_string(&geojson).expect("GeoJSON serialises"),
        html,
    })
}
