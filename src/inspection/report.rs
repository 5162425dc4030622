//! The inspection report (联检报告) of one round: what was found at each marker, along
//! the line and between the two counties' outlines, as JSON and as a GeoJSON
//! FeatureCollection. The printable HTML is in [`super::report_html`].
//!
//! A report is built from plain values, so the same function serves the API and the
//! command line, and a stored report can be read back to compare rounds.

use chrono::{DateTime, Utc};
use geo::{Destination, Geodesic, Point};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::county_lines::MisplacedAddress;
use super::markers::{MarkerFinding, compare_markers};
use super::topology::TopologyReport;
use super::tracks::TrackOffset;
use crate::domain::boundary::{
    BoundaryMarker, Condition, InspectionRound, Landmark, MarkerObservation, MarkerType,
};

/// How a marker came out of the round; the report colours markers by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarkerVerdict {
    /// Found intact, within tolerance.
    Sound,
    /// Found, but damaged, moved by its own account, with a faded inscription or a lost
    /// landmark: to be repaired.
    NeedsRepair,
    /// Displaced beyond the line's tolerance.
    Displaced,
    /// Not found: to be replaced.
    Missing,
    /// Registered but not visited in this round.
    NotInspected,
    /// Observed under a number the register does not hold.
    Unregistered,
}

impl MarkerVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerVerdict::Sound => "sound",
            MarkerVerdict::NeedsRepair => "needs_repair",
            MarkerVerdict::Displaced => "displaced",
            MarkerVerdict::Missing => "missing",
            MarkerVerdict::NotInspected => "not_inspected",
            MarkerVerdict::Unregistered => "unregistered",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            MarkerVerdict::Sound => "完好",
            MarkerVerdict::NeedsRepair => "需维修",
            MarkerVerdict::Displaced => "位移超限",
            MarkerVerdict::Missing => "丢失，需补设",
            MarkerVerdict::NotInspected => "未检查",
            MarkerVerdict::Unregistered => "未登记",
        }
    }

    /// Map colour, also written into the GeoJSON as `marker-color`.
    pub fn colour(self) -> &'static str {
        match self {
            MarkerVerdict::Sound => "#2e7d32",
            MarkerVerdict::NeedsRepair => "#ef6c00",
            MarkerVerdict::Displaced => "#c62828",
            MarkerVerdict::Missing => "#6a1b9a",
            MarkerVerdict::NotInspected => "#757575",
            MarkerVerdict::Unregistered => "#1565c0",
        }
    }

    fn of(finding: &MarkerFinding) -> Self {
        match (finding.registered, finding.condition) {
            (false, _) => MarkerVerdict::Unregistered,
            (true, None) => MarkerVerdict::NotInspected,
            (true, Some(Condition::Missing)) => MarkerVerdict::Missing,
            _ if finding.exceeds_tolerance => MarkerVerdict::Displaced,
            (true, Some(Condition::Intact)) => MarkerVerdict::Sound,
            (true, Some(_)) => MarkerVerdict::NeedsRepair,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportSide {
    /// Six-digit county code.
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportLine {
    pub id: String,
    pub name: Option<String>,
    pub agreement: Option<String>,
    pub a: ReportSide,
    pub b: ReportSide,
    /// Geodesic length of the line the counties' polygons share.
    pub length_m: f64,
    /// Geodesic length of the imported official line, when there is one.
    pub official_length_m: Option<f64>,
    pub marker_tolerance_m: f64,
    pub line_tolerance_m: f64,
    /// GeoJSON geometry (WGS84) the tracks were measured against: the official line if
    /// one was imported, otherwise the shared polygon edge.
    #[schema(value_type = Object)]
    pub geometry: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportMarker {
    pub number: String,
    #[serde(rename = "type")]
    pub marker_type: Option<MarkerType>,
    /// Registered position, WGS84 `[lon, lat]`.
    pub registered: Option<[f64; 2]>,
    /// Observed position, WGS84 `[lon, lat]`.
    pub observed: Option<[f64; 2]>,
    pub displacement_m: Option<f64>,
    pub condition: Option<Condition>,
    pub exceeds_tolerance: bool,
    pub verdict: MarkerVerdict,
    pub note: Option<String>,
    pub photos: Vec<String>,
    pub landmarks: Vec<Landmark>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MarkerSummary {
    pub registered: usize,
    pub inspected: usize,
    pub sound: usize,
    pub needs_repair: usize,
    pub displaced: usize,
    pub missing: usize,
    pub not_inspected: usize,
    pub unregistered: usize,
    pub max_displacement_m: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportTopology {
    /// `submitted` when both sides submitted their outline in this round, otherwise
    /// `registry`: the polygons the service holds.
    pub source: String,
    pub overlap_m2: f64,
    pub gap_m2: f64,
    pub max_offset_m: f64,
    pub overlap_count: usize,
    pub gap_count: usize,
}

/// One thing the teams must act on or sign off.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    /// marker_displaced, marker_missing, marker_needs_repair, marker_not_inspected,
    /// marker_unregistered, track_offset, polygon_overlap, polygon_gap or
    /// address_misplaced.
    pub kind: String,
    /// The marker number, track name or address code it concerns.
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InspectionReport {
    pub round: InspectionRound,
    pub line: ReportLine,
    pub markers: Vec<ReportMarker>,
    pub summary: MarkerSummary,
    #[schema(value_type = Vec<Object>)]
    pub tracks: Vec<TrackOffset>,
    pub topology: ReportTopology,
    pub misplaced_within_m: f64,
    pub misplaced_addresses: Vec<MisplacedAddress>,
    pub findings: Vec<Finding>,
    pub built_at: DateTime<Utc>,
    pub built_by: String,
}

/// Everything a report is built from.
pub struct ReportInputs<'a> {
    pub round: &'a InspectionRound,
    pub line: ReportLine,
    pub registered: &'a [BoundaryMarker],
    pub observations: &'a [MarkerObservation],
    pub tracks: Vec<TrackOffset>,
    pub topology: &'a TopologyReport,
    pub topology_source: &'a str,
    pub misplaced_within_m: f64,
    pub misplaced_addresses: Vec<MisplacedAddress>,
    pub built_at: DateTime<Utc>,
    pub built_by: String,
}

fn metres(value: f64) -> String {
    format!("{value:.3} m")
}

pub fn build_report(inputs: ReportInputs<'_>) -> InspectionReport {
    let tolerance = inputs.line.marker_tolerance_m;
    let findings_by_marker = compare_markers(inputs.registered, inputs.observations, tolerance);
    let markers: Vec<ReportMarker> = findings_by_marker
        .iter()
        .map(|finding| {
            let registered = inputs
                .registered
                .iter()
                .find(|marker| marker.number.printed == finding.number);
            let observation = inputs
                .observations
                .iter()
                .find(|observation| observation.number.trim() == finding.number);
            ReportMarker {
                number: finding.number.clone(),
                marker_type: registered.map(|marker| marker.marker_type),
                registered: registered.map(|marker| [marker.lon, marker.lat]),
                observed: observation
                    .and_then(MarkerObservation::position)
                    .map(|(lon, lat)| [lon, lat]),
                displacement_m: finding.displacement_m,
                condition: finding.condition,
                exceeds_tolerance: finding.exceeds_tolerance,
                verdict: MarkerVerdict::of(finding),
                note: observation.and_then(|observation| observation.note.clone()),
                photos: observation
                    .map(|observation| observation.photos.clone())
                    .unwrap_or_default(),
                landmarks: registered
                    .map(|marker| marker.landmarks.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let count = |verdict: MarkerVerdict| {
        markers
            .iter()
            .filter(|marker| marker.verdict == verdict)
            .count()
    };
    let summary = MarkerSummary {
        registered: inputs.registered.len(),
        inspected: markers
            .iter()
            .filter(|marker| marker.condition.is_some() && marker.registered.is_some())
            .count(),
        sound: count(MarkerVerdict::Sound),
        needs_repair: count(MarkerVerdict::NeedsRepair),
        displaced: count(MarkerVerdict::Displaced),
        missing: count(MarkerVerdict::Missing),
        not_inspected: count(MarkerVerdict::NotInspected),
        unregistered: count(MarkerVerdict::Unregistered),
        max_displacement_m: markers
            .iter()
            .filter_map(|marker| marker.displacement_m)
            .reduce(f64::max),
    };
    let topology = ReportTopology {
        source: inputs.topology_source.to_owned(),
        overlap_m2: inputs.topology.overlap_m2,
        gap_m2: inputs.topology.gap_m2,
        max_offset_m: inputs.topology.max_offset_m,
        overlap_count: feature_count(&inputs.topology.overlaps),
        gap_count: feature_count(&inputs.topology.gaps),
    };
    let findings = findings(
        &markers,
        &inputs.line,
        &inputs.tracks,
        &topology,
        &inputs.misplaced_addresses,
    );
    InspectionReport {
        round: inputs.round.clone(),
        line: inputs.line,
        markers,
        summary,
        tracks: inputs.tracks,
        topology,
        misplaced_within_m: inputs.misplaced_within_m,
        misplaced_addresses: inputs.misplaced_addresses,
        findings,
        built_at: inputs.built_at,
        built_by: inputs.built_by,
    }
}

fn feature_count(collection: &Value) -> usize {
    collection["features"].as_array().map_or(0, Vec::len)
}

fn findings(
    markers: &[ReportMarker],
    line: &ReportLine,
    tracks: &[TrackOffset],
    topology: &ReportTopology,
    misplaced: &[MisplacedAddress],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |kind: &str, subject: &str, message: String| {
        findings.push(Finding {
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            message,
        })
    };
    for marker in markers {
        let number = marker.number.as_str();
        match marker.verdict {
            MarkerVerdict::Sound => {}
            MarkerVerdict::Displaced => push(
                "marker_displaced",
                number,
                format!(
                    "界桩 {number} 偏离登记位置 {}，超过限差 {}",
                    metres(marker.displacement_m.unwrap_or_default()),
                    metres(line.marker_tolerance_m)
                ),
            ),
            MarkerVerdict::Missing => push(
                "marker_missing",
                number,
                format!("界桩 {number} 丢失，应按原位置补设"),
            ),
            MarkerVerdict::NeedsRepair => push(
                "marker_needs_repair",
                number,
                format!(
                    "界桩 {number} {}，应维修",
                    marker.condition.map_or("", Condition::label_zh)
                ),
            ),
            MarkerVerdict::NotInspected => push(
                "marker_not_inspected",
                number,
                format!("界桩 {number} 本次未检查"),
            ),
            MarkerVerdict::Unregistered => push(
                "marker_unregistered",
                number,
                format!("编号 {number} 不在界桩登记表中，应核实"),
            ),
        }
    }
    for track in tracks.iter().filter(|track| track.exceeds_tolerance) {
        push(
            "track_offset",
            &track.track,
            format!(
                "实测轨迹 {} 偏离界线最大 {}，超过限差 {}",
                track.track,
                metres(track.max_offset_m),
                metres(line.line_tolerance_m)
            ),
        );
    }
    if topology.overlap_count > 0 {
        push(
            "polygon_overlap",
            &line.id,
            format!(
                "两县区域数据重叠 {} 处，共 {:.1} m²",
                topology.overlap_count, topology.overlap_m2
            ),
        );
    }
    if topology.gap_count > 0 {
        push(
            "polygon_gap",
            &line.id,
            format!(
                "两县区域数据之间缝隙 {} 处，共 {:.1} m²",
                topology.gap_count, topology.gap_m2
            ),
        );
    }
    for address in misplaced {
        push(
            "address_misplaced",
            &address.code,
            format!(
                "地址 {}（{}）登记于 {}，但位于 {} 界内，距界线 {:.1} m",
                address.address,
                address.code,
                &address.registered_division[..6],
                &address.polygon_county[..6],
                address.distance_to_line_m
            ),
        );
    }
    findings
}

/// The report as a GeoJSON FeatureCollection in WGS84: the line, each marker coloured by
/// its verdict (with a displacement segment where it moved), its landmarks, the
/// surveyed tracks, the overlaps and gaps, and the misplaced addresses.
pub fn report_geojson(
    report: &InspectionReport,
    track_geometries: &[(String, Value)],
    topology: &TopologyReport,
) -> Value {
    let mut features = vec![json!({
        "type": "Feature",
        "properties": {
            "kind": "line", "id": report.line.id, "name": report.line.name,
            "length_m": report.line.length_m, "stroke": "#000000", "stroke-width": 2,
        },
        "geometry": report.line.geometry,
    })];
    for (name, geometry) in track_geometries {
        features.push(json!({
            "type": "Feature",
            "properties": {"kind": "track", "name": name, "stroke": "#00838f"},
            "geometry": geometry,
        }));
    }
    for marker in &report.markers {
        let Some(point) = marker.registered.or(marker.observed) else {
            continue;
        };
        features.push(json!({
            "type": "Feature",
            "properties": {
                "kind": "marker",
                "number": marker.number,
                "verdict": marker.verdict,
                "condition": marker.condition,
                "displacement_m": marker.displacement_m,
                "exceeds_tolerance": marker.exceeds_tolerance,
                "marker-color": marker.verdict.colour(),
                "marker-symbol": "triangle",
            },
            "geometry": {"type": "Point", "coordinates": point},
        }));
        // A marker found exactly where it was registered has no displacement to draw,
        // and a two-point line on one spot is not valid GeoJSON geometry.
        if let (Some(registered), Some(observed)) = (marker.registered, marker.observed)
            && registered != observed
        {
            features.push(json!({
                "type": "Feature",
                "properties": {
                    "kind": "displacement", "number": marker.number,
                    "displacement_m": marker.displacement_m, "stroke": marker.verdict.colour(),
                },
                "geometry": {"type": "LineString", "coordinates": [registered, observed]},
            }));
        }
        if let Some(registered) = marker.registered {
            for landmark in &marker.landmarks {
                let at = Geodesic.destination(
                    Point::new(registered[0], registered[1]),
                    landmark.bearing_deg,
                    landmark.distance_m,
                );
                features.push(json!({
                    "type": "Feature",
                    "properties": {
                        "kind": "landmark", "marker": marker.number, "name": landmark.name,
                        "bearing_deg": landmark.bearing_deg, "distance_m": landmark.distance_m,
                    },
                    "geometry": {"type": "Point", "coordinates": [
                        crate::geo::round_degrees(at.x()), crate::geo::round_degrees(at.y())
                    ]},
                }));
            }
        }
    }
    for (collection, colour) in [(&topology.overlaps, "#d32f2f"), (&topology.gaps, "#1976d2")] {
        for feature in collection["features"].as_array().into_iter().flatten() {
            let mut feature = feature.clone();
            feature["properties"]["fill"] = json!(colour);
            features.push(feature);
        }
    }
    for address in &report.misplaced_addresses {
        features.push(json!({
            "type": "Feature",
            "properties": {
                "kind": "misplaced_address", "code": address.code, "address": address.address,
                "registered_division": address.registered_division,
                "polygon_county": address.polygon_county,
                "distance_to_line_m": address.distance_to_line_m,
            },
            "geometry": {"type": "Point", "coordinates": [address.lon, address.lat]},
        }));
    }
    json!({"type": "FeatureCollection", "features": features})
}
