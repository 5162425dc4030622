//! Distances in metres on the WGS84 ellipsoid.
//!
//! Two tools: Karney's geodesic (through `geo`) for any distance, and a local
//! ellipsoidal approximation for the short hops of reverse geocoding, which agrees
//! with the geodesic to well under a millimetre up to the 5 km search limit and costs
//! a fraction of it. The spatial index works on points of a sphere in 3-D, where
//! straight-line (chord) order is great-circle order, so nearest-neighbour search
//! needs no projection and has no seams or poles.

use geo::{Distance, Geodesic, Point};

const WGS84_A: f64 = 6_378_137.0;
const WGS84_F: f64 = 1.0 / 298.257_223_563;
const WGS84_E2: f64 = WGS84_F * (2.0 - WGS84_F);
/// Mean earth radius (IUGG), the sphere the spatial index lives on.
pub const MEAN_EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Geodesic distance between two (lon, lat) points, in metres.
pub fn geodesic_distance_m(from: (f64, f64), to: (f64, f64)) -> f64 {
    Geodesic.distance(Point::new(from.0, from.1), Point::new(to.0, to.1))
}

/// Distance in metres for points a few kilometres apart: the ellipsoid's meridional
/// and prime-vertical radii of curvature at the mean latitude scale the differences.
pub fn short_distance_m(from: (f64, f64), to: (f64, f64)) -> f64 {
    let mean_lat = ((from.1 + to.1) * 0.5).to_radians();
    let sin_lat = mean_lat.sin();
    let w2 = 1.0 - WGS84_E2 * sin_lat * sin_lat;
    let prime_vertical = WGS84_A / w2.sqrt();
    let meridional = WGS84_A * (1.0 - WGS84_E2) / (w2 * w2.sqrt());
    let mut delta_lon = to.0 - from.0;
    if delta_lon > 180.0 {
        delta_lon -= 360.0;
    } else if delta_lon < -180.0 {
        delta_lon += 360.0;
    }
    let east = prime_vertical * mean_lat.cos() * delta_lon.to_radians();
    let north = meridional * (to.1 - from.1).to_radians();
    east.hypot(north)
}

/// A point on the mean-radius sphere, in metres from the earth's centre.
pub fn sphere_point(lon: f64, lat: f64) -> [f64; 3] {
    let (sin_lat, cos_lat) = lat.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon.to_radians().sin_cos();
    [
        MEAN_EARTH_RADIUS_M * cos_lat * cos_lon,
        MEAN_EARTH_RADIUS_M * cos_lat * sin_lon,
        MEAN_EARTH_RADIUS_M * sin_lat,
    ]
}

/// The chord, in metres, that spans an arc of `metres` on the mean sphere, widened
/// by 1% so that every point within `metres` on the ellipsoid falls inside it (the
/// sphere and the ellipsoid disagree by at most about 0.5%).
pub fn chord_covering_m(metres: f64) -> f64 {
    let arc = (metres * 1.01) / MEAN_EARTH_RADIUS_M;
    2.0 * MEAN_EARTH_RADIUS_M * (arc.min(std::f64::consts::PI) * 0.5).sin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_distances_agree_with_the_geodesic() {
        let mut worst: f64 = 0.0;
        for lat in [18.2, 25.0, 30.0, 35.5, 41.0, 48.0, 53.4] {
            for (east, north) in [(0.0, 0.045), (0.05, 0.0), (0.03, -0.03), (-0.04, 0.02)] {
                let from = (120.0, lat);
                let to = (120.0 + east, lat + north);
                let exact = geodesic_distance_m(from, to);
                assert!(exact < 6_000.0);
                worst = worst.max((short_distance_m(from, to) - exact).abs());
            }
        }
        assert!(worst < 0.001, "worst disagreement {worst} m");
    }

    #[test]
    fn the_covering_chord_contains_every_point_within_the_radius() {
        for metres in [1.0, 200.0, 5_000.0] {
            let from = (121.5, 29.8);
            for bearing_step in 0..16 {
                let angle = f64::from(bearing_step) * std::f64::consts::PI / 8.0;
                // A point slightly inside `metres` on the ellipsoid, in any direction.
                let scale = metres * 0.999 / 111_000.0;
                let mut to = (
                    from.0 + scale * angle.cos() / 0.868,
                    from.1 + scale * angle.sin(),
                );
                while geodesic_distance_m(from, to) > metres {
                    to = (
                        from.0 + (to.0 - from.0) * 0.99,
                        from.1 + (to.1 - from.1) * 0.99,
                    );
                }
                let a = sphere_point(from.0, from.1);
                let b = sphere_point(to.0, to.1);
                let chord =
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
                assert!(chord <= chord_covering_m(metres), "{metres} m at {angle}");
            }
        }
    }
}
