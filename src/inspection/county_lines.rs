//! The county boundary lines of the registry's own polygons, and the standard
//! addresses near a line that are registered on the wrong side of it.

use std::sync::OnceLock;

use geo::{Coord, Distance, Euclidean, LineString, MultiLineString, Point};
use serde::Serialize;

use super::DivisionShape;
use super::lines::{BoundaryLine, derive_lines};
use super::plane::LocalPlane;
use crate::domain::division::DivisionLevel;
use crate::index::addresses::AddressIndex;
use crate::index::divisions::format_code;
use crate::index::polygons::DivisionPolygons;

/// The closest the line is sampled at, in metres, however narrow the band: a sample
/// every band width along a 100 km line asked for a band of 1e-165 m once made
/// 10^170 samples and took all the memory of the machine.
const MIN_SAMPLE_SPACING_M: f64 = 25.0;
/// The widest band searched for misplaced addresses, in metres.
pub const MAX_MISPLACED_WITHIN_M: f64 = 5_000.0;
/// The band searched when none is given: wide enough for the addresses of the houses
/// along a line, narrow enough to leave out the towns behind it.
pub const DEFAULT_MISPLACED_WITHIN_M: f64 = 500.0;

/// Lines between the counties whose polygons the registry holds, derived on first use.
pub struct CountyLines {
    polygons: std::sync::Arc<DivisionPolygons>,
    lines: OnceLock<Vec<BoundaryLine>>,
}

/// An address within the band around a line whose registered county is not the county
/// whose polygon holds its point.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MisplacedAddress {
    pub code: String,
    pub address: String,
    /// The division the address is registered under (12 digits).
    pub registered_division: String,
    /// The county whose polygon contains the address's point (12 digits).
    pub polygon_county: String,
    pub distance_to_line_m: f64,
    pub lon: f64,
    pub lat: f64,
}

/// The line id: the two six-digit county codes, lower first.
pub fn line_id(line: &BoundaryLine) -> String {
    format!(
        "{}-{}",
        &line.a[..6.min(line.a.len())],
        &line.b[..6.min(line.b.len())]
    )
}

impl CountyLines {
    pub fn new(polygons: std::sync::Arc<DivisionPolygons>) -> Self {
        CountyLines {
            polygons,
            lines: OnceLock::new(),
        }
    }

    pub fn lines(&self) -> &[BoundaryLine] {
        self.lines.get_or_init(|| {
            let counties: Vec<DivisionShape> = self
                .polygons
                .divisions()
                .filter(|division| division.level == DivisionLevel::County)
                .filter_map(|division| {
                    Some(DivisionShape {
                        code: format_code(division.code),
                        name: None,
                        shape: self.polygons.shape(division.code)?.clone(),
                    })
                })
                .collect();
            derive_lines(&counties)
        })
    }

    /// The polygon of a county, by its 6- or 12-digit code.
    pub fn county_shape(&self, code: &str) -> Option<&geo::MultiPolygon<f64>> {
        let digits: u64 = code.get(..6)?.parse().ok()?;
        self.polygons.shape(digits * 1_000_000)
    }

    pub fn line(&self, id: &str) -> Option<&BoundaryLine> {
        self.lines().iter().find(|line| line_id(line) == id)
    }

    /// Standard addresses within `within_m` of the line whose registered county is
    /// neither the county whose polygon holds them, nearest the line first.
    pub fn misplaced_addresses(
        &self,
        line: &BoundaryLine,
        within_m: f64,
        index: &AddressIndex,
    ) -> Vec<MisplacedAddress> {
        let Some(origin) = line
            .geometry
            .0
            .iter()
            .flat_map(|part| part.0.first())
            .next()
        else {
            return Vec::new();
        };
        let plane = LocalPlane::around(origin.x, origin.y);
        let line_plane = MultiLineString::new(
            line.geometry
                .0
                .iter()
                .map(|part| LineString::new(part.0.iter().map(|c| plane.plane_of(*c)).collect()))
                .collect(),
        );
        // Samples no farther apart than the band is wide (but see MIN_SAMPLE_SPACING_M):
        // with spacing s, every point within w of the line lies within √(w² + (s/2)²)
        // of some sample, so that radius finds them all; the exact distance filters below.
        let spacing = within_m.max(MIN_SAMPLE_SPACING_M);
        let search_radius = within_m.hypot(spacing / 2.0);
        let mut samples = Vec::new();
        for part in &line_plane.0 {
            for segment in part.lines() {
                let (dx, dy) = (
                    segment.end.x - segment.start.x,
                    segment.end.y - segment.start.y,
                );
                let steps = ((dx.hypot(dy) / spacing).ceil() as usize).max(1);
                for step in 0..=steps {
                    let t = step as f64 / steps as f64;
                    samples.push(plane.lon_lat_of(Coord {
                        x: segment.start.x + dx * t,
                        y: segment.start.y + dy * t,
                    }));
                }
            }
        }
        let mut positions = std::collections::BTreeSet::new();
        for sample in samples {
            for nearby in index.nearest(sample.x, sample.y, search_radius, usize::MAX) {
                positions.insert(nearby.position);
            }
        }
        let mut misplaced: Vec<MisplacedAddress> = positions
            .into_iter()
            .filter_map(|position| {
                let entry = index.get(position)?;
                let (lon, lat) = entry.point?;
                let distance = Euclidean.distance(
                    &Point::from(plane.plane_of(Coord { x: lon, y: lat })),
                    &line_plane,
                );
                if distance > within_m {
                    return None;
                }
                let holder = self.polygons.deepest_containing(lon, lat)?;
                let (polygon_county, registered_county) =
                    (holder.code / 1_000_000, entry.division / 1_000_000);
                (polygon_county != registered_county).then(|| MisplacedAddress {
                    code: entry.code().to_owned(),
                    address: entry.standard_text().to_owned(),
                    registered_division: format_code(entry.division),
                    polygon_county: format_code(polygon_county * 1_000_000),
                    distance_to_line_m: (distance * 100.0).round() / 100.0,
                    lon,
                    lat,
                })
            })
            .collect();
        misplaced.sort_by(|a, b| a.distance_to_line_m.total_cmp(&b.distance_to_line_m));
        misplaced
    }
}
