//! The standard address points in an R-tree, for nearest-address queries.
//!
//! Points are stored on the mean-radius sphere in 3-D (see [`crate::geo::measure`]),
//! so the tree's straight-line order is great-circle order everywhere. Distances
//! handed back are ellipsoidal metres.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::geo::measure::{chord_covering_m, short_distance_m, sphere_point};

type PointEntry = GeomWithData<[f64; 3], u32>;

/// An address near a query point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyAddress {
    /// The address's position in the [`super::addresses::AddressIndex`].
    pub position: u32,
    pub distance_m: f64,
}

#[derive(Default)]
pub struct AddressPoints {
    tree: RTree<PointEntry>,
    /// While the registry loads at start-up, points are collected here and
    /// bulk-loaded once: a bulk load is several times faster than one insert per
    /// address and packs the tree better.
    deferred: Option<Vec<PointEntry>>,
}

impl AddressPoints {
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    pub fn defer_inserts(&mut self) {
        self.deferred.get_or_insert_with(Vec::new);
    }

    pub fn finish_deferred_inserts(&mut self) {
        let Some(mut deferred) = self.deferred.take() else {
            return;
        };
        if self.tree.size() == 0 {
            self.tree = RTree::bulk_load(deferred);
        } else {
            deferred.extend(self.tree.drain());
            self.tree = RTree::bulk_load(deferred);
        }
    }

    pub fn insert(&mut self, position: u32, lon: f64, lat: f64) {
        let entry = PointEntry::new(sphere_point(lon, lat), position);
        match &mut self.deferred {
            Some(deferred) => deferred.push(entry),
            None => self.tree.insert(entry),
        }
    }

    pub fn remove(&mut self, position: u32, lon: f64, lat: f64) {
        let entry = PointEntry::new(sphere_point(lon, lat), position);
        match &mut self.deferred {
            Some(deferred) => deferred.retain(|held| held != &entry),
            None => {
                self.tree.remove(&entry);
            }
        }
    }

    /// Up to `limit` addresses within `radius_m` of the point, nearest first.
    /// `point_of` gives an address's (lon, lat) for the exact distance, or `None` to
    /// pass over it.
    pub fn nearest(
        &self,
        lon: f64,
        lat: f64,
        radius_m: f64,
        limit: usize,
        point_of: impl Fn(u32) -> Option<(f64, f64)>,
    ) -> Vec<NearbyAddress> {
        let mut found: Vec<NearbyAddress> = Vec::with_capacity(limit.min(64));
        if limit == 0 {
            return found;
        }
        let query = sphere_point(lon, lat);
        let covering = chord_covering_m(radius_m);
        let covering_squared = covering * covering;
        let mut stop_beyond_squared = covering_squared;
        for (entry, chord_squared) in self.tree.nearest_neighbor_iter_with_distance_2(&query) {
            if chord_squared > stop_beyond_squared {
                break;
            }
            let Some(point) = point_of(entry.data) else {
                continue;
            };
            let distance_m = short_distance_m((lon, lat), point);
            if distance_m > radius_m {
                continue;
            }
            let at = found.partition_point(|held| {
                (held.distance_m, held.position) <= (distance_m, entry.data)
            });
            if at < limit {
                found.insert(
                    at,
                    NearbyAddress {
                        position: entry.data,
                        distance_m,
                    },
                );
                found.truncate(limit);
            }
            if found.len() == limit {
                // The sphere orders points almost as the ellipsoid does; anything
                // whose chord is beyond the cover of the current worst cannot beat it.
                let worst = chord_covering_m(found[limit - 1].distance_m);
                stop_beyond_squared = covering_squared.min(worst * worst);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .map(|(position, &point)| (short_distance_m(query, point), position as u32))
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
        index.defer_inserts();
        for (position, &(lon, lat)) in points.iter().enumerate() {
            index.insert(position as u32, lon, lat);
        }
        index.finish_deferred_inserts();
        assert_eq!(index.len(), points.len());
        let point_of = |position: u32| points.get(position as usize).copied();
        for query in [(121.5051, 29.8049), (121.4999, 29.7999), (121.51, 29.81)] {
            for (radius, limit) in [(50.0, 10), (200.0, 5), (5_000.0, 25), (10.0, 3)] {
                let found: Vec<u32> = index
                    .nearest(query.0, query.1, radius, limit, point_of)
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
    fn removed_points_are_not_found() {
        let mut index = AddressPoints::default();
        index.insert(1, 120.0, 30.0);
        index.insert(2, 120.0001, 30.0);
        index.remove(1, 120.0, 30.0);
        let found = index.nearest(120.0, 30.0, 100.0, 5, |position| {
            Some(if position == 1 {
                (120.0, 30.0)
            } else {
                (120.0001, 30.0)
            })
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].position, 2);
    }
}
