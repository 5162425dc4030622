//! The standard address points in an R-tree, for nearest-address queries.
//!
//! Points are stored on the ellipsoid's surface in earth-centred 3-D coordinates (see
//! [`crate::geo::measure`]): the straight line between two of them is the geodesic
//! distance to a fraction of a millimetre at search distances, so the tree ranks
//! and measures in one step.

use rstar::primitives::GeomWithData;
use rstar::{AABB, ParentNode, RStarInsertionStrategy, RTree, RTreeNode, RTreeParams};

use crate::geo::measure::{chord_to_geodesic_m, surface_point};

type PointEntry = GeomWithData<[f64; 3], u32>;

/// Wider nodes than rstar's default (6): a query then touches fewer, fuller nodes,
/// which matters more than the comparisons saved once a million points no longer
/// fit in cache. (8, 16 and 32 measure within noise of each other; 32 was best.)
struct PointTreeParams;

impl RTreeParams for PointTreeParams {
    const MIN_SIZE: usize = 12;
    const MAX_SIZE: usize = NODE_SIZE;
    const REINSERTION_COUNT: usize = 3;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

const NODE_SIZE: usize = 32;

/// An address near a query point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyAddress {
    /// The address's position in the [`super::addresses::AddressIndex`].
    pub position: u32,
    pub distance_m: f64,
}

pub struct AddressPoints {
    tree: RTree<PointEntry, PointTreeParams>,
    /// While the registry loads at start-up or imports a file, changes are collected
    /// here and applied in one bulk load: several times faster than one insert per
    /// address, and a better packed tree.
    deferred: Option<DeferredChanges>,
}

#[derive(Default)]
struct DeferredChanges {
    inserts: Vec<PointEntry>,
    /// Positions removed meanwhile, from the tree or from `inserts` (a position is
    /// never reused, so the position alone names the point).
    removals: Vec<u32>,
}

impl Default for AddressPoints {
    fn default() -> Self {
        AddressPoints {
            tree: RTree::new_with_params(),
            deferred: None,
        }
    }
}

impl AddressPoints {
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Until [`Self::finish_deferred_changes`], inserts and removals are collected
    /// rather than applied: lookups meanwhile see the tree as it was.
    pub fn defer_changes(&mut self, expected_inserts: usize) {
        self.deferred
            .get_or_insert_with(DeferredChanges::default)
            .inserts
            .reserve(expected_inserts);
    }

    /// Whether changes are being collected: positions must not be reused meanwhile,
    /// since a deferred removal names its point by position alone.
    pub fn is_deferring(&self) -> bool {
        self.deferred.is_some()
    }

    pub fn finish_deferred_changes(&mut self) {
        let Some(DeferredChanges {
            mut inserts,
            removals,
        }) = self.deferred.take()
        else {
            return;
        };
        if inserts.is_empty() && removals.is_empty() {
            return;
        }
        let removed: std::collections::HashSet<u32> = removals.into_iter().collect();
        inserts.retain(|entry| !removed.contains(&entry.data));
        if self.tree.size() > 0 {
            inserts.extend(
                self.tree
                    .drain()
                    .filter(|entry| !removed.contains(&entry.data)),
            );
        }
        self.tree = RTree::bulk_load_with_params(inserts);
    }

    pub fn insert(&mut self, position: u32, lon: f64, lat: f64) {
        let entry = PointEntry::new(surface_point(lon, lat), position);
        match &mut self.deferred {
            Some(deferred) => deferred.inserts.push(entry),
            None => self.tree.insert(entry),
        }
    }

    pub fn remove(&mut self, position: u32, lon: f64, lat: f64) {
        match &mut self.deferred {
            Some(deferred) => deferred.removals.push(position),
            None => {
                self.tree
                    .remove(&PointEntry::new(surface_point(lon, lat), position));
            }
        }
    }

    /// Up to `limit` addresses within `radius_m` metres of the point, nearest first
    /// (equal distances by position, so answers are stable).
    pub fn nearest(&self, lon: f64, lat: f64, radius_m: f64, limit: usize) -> Vec<NearbyAddress> {
        let found: Vec<NearbyAddress> = Vec::with_capacity(limit.min(64));
        if limit == 0 {
            return found;
        }
        let query = surface_point(lon, lat);
        // The chord is never longer than the geodesic, so this bound loses nothing.
        let radius_squared = radius_m * radius_m;
        // Usually only a handful of addresses lie within the radius, and visiting them
        // all is cheaper than the best-first search's priority queue. Where thousands
        // do (a city centre with a wide radius), the best-first search stops after
        // `limit` and wins, so the scan gives up past `SCAN_LIMIT`.
        let mut scan = RadiusScan {
            query,
            radius_squared,
            limit,
            visited: 0,
            found,
        };
        if !scan.visit(self.tree.root()) {
            let mut found = scan.found;
            found.clear();
            return self.nearest_best_first(query, radius_m, limit, found);
        }
        let mut found = scan.found;
        found.retain(|nearby| nearby.distance_m <= radius_m);
        found
    }

    fn nearest_best_first(
        &self,
        query: [f64; 3],
        radius_m: f64,
        limit: usize,
        mut found: Vec<NearbyAddress>,
    ) -> Vec<NearbyAddress> {
        for (entry, chord_squared) in self.tree.nearest_neighbor_iter_with_distance_2(&query) {
            let distance_m = chord_to_geodesic_m(chord_squared.sqrt());
            if distance_m > radius_m {
                break;
            }
            if found.len() == limit && distance_m > found[limit - 1].distance_m {
                break;
            }
            keep_nearest(&mut found, limit, entry.data, distance_m);
        }
        found
    }
}

const SCAN_LIMIT: usize = 2_048;

/// The radius scan as a plain recursive descent over the tree's nodes: rstar's own
/// selection iterator keeps a stack of node references and calls the selection
/// closure through a trait object, which cost more than the distance tests themselves.
struct RadiusScan {
    query: [f64; 3],
    radius_squared: f64,
    limit: usize,
    visited: usize,
    found: Vec<NearbyAddress>,
}

impl RadiusScan {
    /// Visits every point within the radius under `node`; false once more than
    /// `SCAN_LIMIT` points have been seen (the caller then searches best-first).
    fn visit(&mut self, node: &ParentNode<PointEntry>) -> bool {
        // Children to descend into, filled from the front (the rest is padding).
        let mut within: [&ParentNode<PointEntry>; NODE_SIZE] = [node; NODE_SIZE];
        let mut within_count = 0;
        for child in node.children() {
            match child {
                RTreeNode::Leaf(entry) => {
                    let chord_squared = squared_distance(&self.query, entry.geom());
                    if chord_squared > self.radius_squared {
                        continue;
                    }
                    self.visited += 1;
                    if self.visited > SCAN_LIMIT {
                        return false;
                    }
                    keep_nearest(
                        &mut self.found,
                        self.limit,
                        entry.data,
                        chord_to_geodesic_m(chord_squared.sqrt()),
                    );
                }
                RTreeNode::Parent(parent) => {
                    if box_distance_squared(&self.query, &parent.envelope()) > self.radius_squared {
                        continue;
                    }
                    // rstar keeps nodes within NODE_SIZE; the fallback only guards the answer.
                    if within_count < NODE_SIZE {
                        within[within_count] = parent;
                        within_count += 1;
                    } else if !self.visit(parent) {
                        return false;
                    }
                }
            }
        }
        // The scan waits on memory, not arithmetic: a node's children fill a few
        // kilobytes, so every node to be visited is requested before the first is read.
        for parent in &within[..within_count] {
            prefetch_children(parent);
        }
        for parent in &within[..within_count] {
            if !self.visit(parent) {
                return false;
            }
        }
        true
    }
}

fn prefetch_children(node: &ParentNode<PointEntry>) {
    let children = node.children();
    let start = children.as_ptr().cast::<u8>();
    let bytes = std::mem::size_of_val(children);
    for offset in (0..bytes).step_by(64) {
        crate::prefetch::read(start.wrapping_add(offset));
    }
}

/// Squared distance from the point to the box (0 inside), written out because rstar's
/// generic `distance_2` was not inlined into the scan and took a fifth of its time.
#[inline(always)]
fn box_distance_squared(point: &[f64; 3], envelope: &AABB<[f64; 3]>) -> f64 {
    let (lower, upper) = (envelope.lower(), envelope.upper());
    let mut total = 0.0;
    for axis in 0..3 {
        let outside = (lower[axis] - point[axis])
            .max(point[axis] - upper[axis])
            .max(0.0);
        total += outside * outside;
    }
    total
}

fn squared_distance(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Inserts the address into `found` (sorted by distance, then position) if it is
/// among the `limit` nearest so far.
#[inline]
fn keep_nearest(found: &mut Vec<NearbyAddress>, limit: usize, position: u32, distance_m: f64) {
    let key = (distance_m, position);
    if found.len() == limit {
        let last = found[limit - 1];
        if key >= (last.distance_m, last.position) {
            return;
        }
        found.pop();
    }
    let at = found.partition_point(|held| (held.distance_m, held.position) <= key);
    found.insert(
        at,
        NearbyAddress {
            position,
            distance_m,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metric the index uses (checked against the geodesic in `geo::measure`).
    fn surface_distance_m(from: (f64, f64), to: (f64, f64)) -> f64 {
        let a = surface_point(from.0, from.1);
        let b = surface_point(to.0, to.1);
        let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        chord_to_geodesic_m(chord)
    }

    fn grid() -> Vec<(f64, f64)> {
        let mut points = Vec::new();
        for row in 0..40 {
            for column in 0..40 {
                points.push((
                    121.5 + f64::from(column) * 0.0003,
                    29.8 + f64::from(row) * 0.0003,
                ));
            }
        }
        points
    }

    fn brute_force(
        points: &[(f64, f64)],
        query: (f64, f64),
        radius: f64,
        limit: usize,
    ) -> Vec<u32> {
        let mut all: Vec<(f64, u32)> = points
            .iter()
            .enumerate()
            .map(|(position, &point)| (surface_distance_m(query, point), position as u32))
            .filter(|(distance, _)| *distance <= radius)
            .collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        all.into_iter()
            .take(limit)
            .map(|(_, position)| position)
            .collect()
    }

    #[test]
    fn nearest_agrees_with_brute_force_and_respects_the_radius() {
        let points = grid();
        let mut index = AddressPoints::default();
        index.defer_changes(points.len());
        for (position, &(lon, lat)) in points.iter().enumerate() {
            index.insert(position as u32, lon, lat);
        }
        index.finish_deferred_changes();
        assert_eq!(index.len(), points.len());
        for query in [(121.5051, 29.8049), (121.4999, 29.7999), (121.51, 29.81)] {
            for (radius, limit) in [(50.0, 10), (200.0, 5), (5_000.0, 25), (10.0, 3)] {
                let found: Vec<u32> = index
                    .nearest(query.0, query.1, radius, limit)
                    .iter()
                    .map(|nearby| nearby.position)
                    .collect();
                assert_eq!(
                    found,
                    brute_force(&points, query, radius, limit),
                    "{query:?} {radius}"
                );
            }
        }
    }

    #[test]
    fn deferred_removals_reach_points_already_in_the_tree_and_those_waiting() {
        let mut index = AddressPoints::default();
        index.insert(0, 121.50, 29.80);
        index.insert(1, 121.51, 29.81);
        index.defer_changes(2);
        index.insert(2, 121.52, 29.82);
        index.insert(3, 121.53, 29.83);
        index.remove(1, 121.51, 29.81);
        index.remove(3, 121.53, 29.83);
        // Until the changes are applied, lookups see the tree as it was.
        assert_eq!(index.nearest(121.51, 29.81, 10.0, 5).len(), 1);
        index.finish_deferred_changes();
        let positions = |lon, lat| -> Vec<u32> {
            index
                .nearest(lon, lat, 10.0, 5)
                .iter()
                .map(|nearby| nearby.position)
                .collect()
        };
        assert_eq!(index.len(), 2);
        assert_eq!(positions(121.50, 29.80), [0]);
        assert!(positions(121.51, 29.81).is_empty());
        assert_eq!(positions(121.52, 29.82), [2]);
        assert!(positions(121.53, 29.83).is_empty());
    }

    #[test]
    fn a_dense_cluster_takes_the_best_first_path_with_the_same_answer() {
        // 3,000 rooms at a handful of building points, more than the scan limit.
        let points: Vec<(f64, f64)> = (0..3_000)
            .map(|room| {
                (
                    121.5 + f64::from(room % 7) * 0.0001,
                    29.8 + f64::from(room % 5) * 0.0001,
                )
            })
            .collect();
        let mut index = AddressPoints::default();
        for (position, &(lon, lat)) in points.iter().enumerate() {
            index.insert(position as u32, lon, lat);
        }
        let query = (121.50031, 29.80022);
        let found: Vec<u32> = index
            .nearest(query.0, query.1, 500.0, 12)
            .iter()
            .map(|nearby| nearby.position)
            .collect();
        assert_eq!(found, brute_force(&points, query, 500.0, 12));
    }

    #[test]
    fn removed_points_are_not_found() {
        let mut index = AddressPoints::default();
        index.insert(1, 120.0, 30.0);
        index.insert(2, 120.0001, 30.0);
        index.remove(1, 120.0, 30.0);
        let found = index.nearest(120.0, 30.0, 100.0, 5);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].position, 2);
    }
}
