//! A local plane in metres around a point, for the steps that need planar geometry
//! (buffers, point-to-line offsets). Across the few tens of kilometres of one
//! county border its scale error stays within about 0.1%, far below the metres these
//! steps measure; areas and lengths are taken geodesically instead, on the WGS84 points.

use geo::{Coord, MapCoords, MultiPolygon};

const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 0.006_694_379_990_141_316;

#[derive(Debug, Clone, Copy)]
pub struct LocalPlane {
    lon0: f64,
    lat0: f64,
    metres_per_degree_lon: f64,
    metres_per_degree_lat: f64,
}

impl LocalPlane {
    /// Centred on (`lon0`, `lat0`), with the ellipsoid's radii of curvature there.
    pub fn around(lon0: f64, lat0: f64) -> Self {
        let sin_lat = lat0.to_radians().sin();
        let w = (1.0 - WGS84_E2 * sin_lat * sin_lat).sqrt();
        let prime_vertical = WGS84_A / w;
        let meridional = WGS84_A * (1.0 - WGS84_E2) / (w * w * w);
        LocalPlane {
            lon0,
            lat0,
            metres_per_degree_lon: prime_vertical * lat0.to_radians().cos() * std::f64::consts::PI
                / 180.0,
            metres_per_degree_lat: meridional * std::f64::consts::PI / 180.0,
        }
    }

    pub fn plane_of(&self, coord: Coord<f64>) -> Coord<f64> {
        Coord {
            x: (coord.x - self.lon0) * self.metres_per_degree_lon,
            y: (coord.y - self.lat0) * self.metres_per_degree_lat,
        }
    }

    pub fn lon_lat_of(&self, coord: Coord<f64>) -> Coord<f64> {
        Coord {
            x: self.lon0 + coord.x / self.metres_per_degree_lon,
            y: self.lat0 + coord.y / self.metres_per_degree_lat,
        }
    }

    pub fn project(&self, shape: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        shape.map_coords(|coord| self.plane_of(coord))
    }

    pub fn unproject(&self, shape: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        shape.map_coords(|coord| self.lon_lat_of(coord))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::measure::geodesic_distance_m;

    #[test]
    fn plane_distances_match_geodesics_near_the_centre() {
        let plane = LocalPlane::around(121.5, 29.8);
        for (dlon, dlat) in [(0.2, 0.0), (0.0, 0.2), (0.15, -0.15)] {
            let a = Coord { x: 121.5, y: 29.8 };
            let b = Coord {
                x: 121.5 + dlon,
                y: 29.8 + dlat,
            };
            let (pa, pb) = (plane.plane_of(a), plane.plane_of(b));
            let planar = ((pa.x - pb.x).powi(2) + (pa.y - pb.y).powi(2)).sqrt();
            let geodesic = geodesic_distance_m((a.x, a.y), (b.x, b.y));
            assert!(
                (planar / geodesic - 1.0).abs() < 1e-3,
                "{planar} vs {geodesic}"
            );
        }
        let back = plane.lon_lat_of(plane.plane_of(Coord { x: 121.7, y: 29.6 }));
        assert!((back.x - 121.7).abs() < 1e-12 && (back.y - 29.6).abs() < 1e-12);
    }
}
