//! County boundary lines derived from polygons.
//!
//! Two counties are neighbours where their outlines share edges. Every edge of every
//! ring is keyed by its two end points (snapped to 1e-7°, about 1 cm, so the same
//! vertex written by two features matches); an edge owned by exactly two counties is
//! on their common line. The edges of each pair are then chained into as few line
//! strings as they form, and the length is the sum of the edges' geodesic lengths.

use std::collections::{BTreeMap, HashMap};

use geo::{Coord, LineString, MultiLineString};
use serde::Serialize;

use super::DivisionShape;
use crate::geo::measure::geodesic_distance_m;

/// A vertex snapped to 1e-7° as integers, so equal points hash equally.
type VertexKey = (i64, i64);

fn vertex_key(coord: Coord<f64>) -> VertexKey {
    (
        (coord.x * 1e7).round() as i64,
        (coord.y * 1e7).round() as i64,
    )
}

/// The shared boundary of two adjacent divisions.
#[derive(Debug, Clone, Serialize)]
pub struct BoundaryLine {
    /// The lower of the two codes.
    pub a: String,
    pub b: String,
    /// The registered name (鄞奉线), when known.
    pub name: Option<String>,
    /// Geodesic length on the WGS84 ellipsoid.
    pub length_m: f64,
    #[serde(serialize_with = "serialize_lines")]
    pub geometry: MultiLineString<f64>,
}

fn serialize_lines<S: serde::Serializer>(
    lines: &MultiLineString<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let rounded = lines.0.iter().map(|line| {
        line.coords()
            .map(|coord| vec![round7(coord.x), round7(coord.y)])
            .collect::<Vec<_>>()
    });
    let geometry = if lines.0.len() == 1 {
        serde_json::json!({"type": "LineString", "coordinates": rounded.into_iter().next()})
    } else {
        serde_json::json!({"type": "MultiLineString", "coordinates": rounded.collect::<Vec<_>>()})
    };
    geometry.serialize(serializer)
}

fn round7(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}

/// Every pair of divisions whose outlines share edges, ordered by (a, b), with their
/// common line.
pub fn derive_lines(shapes: &[DivisionShape]) -> Vec<BoundaryLine> {
    let mut owners: HashMap<(VertexKey, VertexKey), Vec<u32>> = HashMap::new();
    let mut coords: HashMap<VertexKey, Coord<f64>> = HashMap::new();
    for (index, division) in shapes.iter().enumerate() {
        for polygon in &division.shape {
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                for edge in ring.lines() {
                    let (start, end) = (vertex_key(edge.start), vertex_key(edge.end));
                    if start == end {
                        continue;
                    }
                    coords.entry(start).or_insert(edge.start);
                    coords.entry(end).or_insert(edge.end);
                    let key = if start < end {
                        (start, end)
                    } else {
                        (end, start)
                    };
                    let list = owners.entry(key).or_default();
                    if !list.contains(&(index as u32)) {
                        list.push(index as u32);
                    }
                }
            }
        }
    }
    let mut edges_by_pair: BTreeMap<(String, String), Vec<(VertexKey, VertexKey)>> =
        BTreeMap::new();
    for (edge, list) in owners {
        if let [first, second] = list[..] {
            let (a, b) = (&shapes[first as usize].code, &shapes[second as usize].code);
            if a == b {
                continue;
            }
            let pair = if a < b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            edges_by_pair.entry(pair).or_default().push(edge);
        }
    }
    edges_by_pair
        .into_iter()
        .map(|((a, b), mut edges)| {
            edges.sort_unstable();
            let length_m = edges
                .iter()
                .map(|(start, end)| {
                    let (start, end) = (coords[start], coords[end]);
                    geodesic_distance_m((start.x, start.y), (end.x, end.y))
                })
                .sum();
            let geometry = chain_edges(&edges, &coords);
            BoundaryLine {
                a,
                b,
                name: None,
                length_m,
                geometry,
            }
        })
        .collect()
}

/// Joins edges into line strings: from every vertex that is not a plain link (an end,
/// or a junction of more than two edges) walk until the next such vertex; what is
/// left are closed loops (an enclave's whole outline).
fn chain_edges(
    edges: &[(VertexKey, VertexKey)],
    coords: &HashMap<VertexKey, Coord<f64>>,
) -> MultiLineString<f64> {
    let mut neighbours: BTreeMap<VertexKey, Vec<(VertexKey, usize)>> = BTreeMap::new();
    for (index, (start, end)) in edges.iter().enumerate() {
        neighbours.entry(*start).or_default().push((*end, index));
        neighbours.entry(*end).or_default().push((*start, index));
    }
    let mut used = vec![false; edges.len()];
    let mut lines = Vec::new();
    let walk = |from: VertexKey, used: &mut Vec<bool>| {
        let mut points = vec![coords[&from]];
        let mut current = from;
        loop {
            let next = neighbours[&current]
                .iter()
                .find(|(_, edge)| !used[*edge])
                .copied();
            let Some((vertex, edge)) = next else { break };
            used[edge] = true;
            points.push(coords[&vertex]);
            current = vertex;
            if neighbours[&current].len() != 2 {
                break;
            }
        }
        LineString::new(points)
    };
    let ends: Vec<VertexKey> = neighbours
        .iter()
        .filter(|(_, list)| list.len() != 2)
        .map(|(vertex, _)| *vertex)
        .collect();
    for end in ends {
        while neighbours[&end].iter().any(|(_, edge)| !used[*edge]) {
            lines.push(walk(end, &mut used));
        }
    }
    for index in 0..edges.len() {
        if !used[index] {
            lines.push(walk(edges[index].0, &mut used));
        }
    }
    MultiLineString::new(lines)
}

#[cfg(test)]
mod tests {
    use geo::{MultiPolygon, polygon};

    use super::*;

    fn square(code: &str, x0: f64, y0: f64) -> DivisionShape {
        DivisionShape {
            code: code.to_owned(),
            name: None,
            shape: MultiPolygon::new(vec![polygon![
                (x: x0, y: y0), (x: x0 + 0.01, y: y0), (x: x0 + 0.01, y: y0 + 0.01),
                (x: x0, y: y0 + 0.01), (x: x0, y: y0),
            ]]),
        }
    }

    #[test]
    fn neighbours_get_one_line_along_their_common_edge() {
        // Three squares in a row: 1|2|3, and a fourth below 1 and 2 sharing half of 2.
        let shapes = vec![
            square("330212", 121.0, 29.0),
            square("330213", 121.01, 29.0),
            square("330203", 121.02, 29.0),
        ];
        let lines = derive_lines(&shapes);
        let pairs: Vec<(&str, &str)> = lines.iter().map(|l| (l.a.as_str(), l.b.as_str())).collect();
        assert_eq!(pairs, [("330203", "330213"), ("330212", "330213")]);
        let expected = geodesic_distance_m((121.01, 29.0), (121.01, 29.01));
        assert!((lines[1].length_m - expected).abs() < 1e-6);
        assert_eq!(lines[1].geometry.0.len(), 1);
        assert_eq!(lines[1].geometry.0[0].0.len(), 2);
    }
}
