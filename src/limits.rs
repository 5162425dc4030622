//! Request budgets shared by the API and the public scan page: a token bucket per
//! caller, and gates that count what runs at once.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Callers remembered per shard before idle ones are forgotten.
const SHARD_CAPACITY: usize = 8_192;

/// A token bucket per caller: a minute's allowance as the burst, refilled evenly.
pub struct RateLimiter<K> {
    per_minute: u32,
    shards: Vec<Mutex<HashMap<K, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    pub fn is_off(&self) -> bool {
        self.per_minute == 0
    }

    /// `Ok` when the caller may go ahead now (and spends a token), else how long until
    /// it may.
    pub fn check(&self, caller: &K, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let shard_index = (self.hasher.hash_one(caller) as usize) % SHARDS;
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut shard = self.shards[shard_index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(caller) {
            // A full bucket is a caller with no recent requests: forgetting it changes
            // nothing.
            shard.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second
                    < capacity
            });
        }
        let bucket = shard.entry(caller.clone()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let refilled =
            bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = refilled.min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// The key a client address is limited under: IPv4 as it is, IPv6 by its /64, which
/// one subscriber usually holds whole.
pub fn client_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(address) => match address.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = address.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
        v4 => v4,
    }
}

/// Counts what runs at once, up to a fixed number; past it, callers are turned away
/// rather than queued, so an overload shows at once instead of as growing latency.
#[derive(Clone)]
pub struct Gate {
    capacity: usize,
    running: Arc<AtomicUsize>,
}

/// One admitted caller; leaving the gate when dropped.
pub struct Pass {
    running: Arc<AtomicUsize>,
}

impl Gate {
    pub fn new(capacity: usize) -> Self {
        Gate {
            capacity,
            running: Arc::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn try_enter(&self) -> Option<Pass> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < self.capacity).then_some(running + 1)
            })
            .ok()?;
        Some(Pass {
            running: self.running.clone(),
        })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_a_minute_of_requests_then_waits() {
        let limiter = RateLimiter::new(6);
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let start = Instant::now();
        for _ in 0..6 {
            assert!(limiter.check(&client, start).is_ok());
        }
        let wait = limiter.check(&client, start).unwrap_err();
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));
        assert!(
            limiter
                .check(&client, start + Duration::from_secs(10))
                .is_ok()
        );
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        assert!(limiter.check(&other, start).is_ok());
    }

    #[test]
    fn ipv6_clients_share_their_prefix() {
        let limiter = RateLimiter::new(1);
        let now = Instant::now();
        let key = |text: &str| client_key(text.parse().unwrap());
        assert!(limiter.check(&key("2001:db8::1"), now).is_ok());
        assert!(limiter.check(&key("2001:db8::2"), now).is_err());
        assert!(limiter.check(&key("2001:db8:0:1::1"), now).is_ok());
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0);
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.check(&"key", now).is_ok());
        }
    }

    #[test]
    fn a_gate_admits_up_to_its_capacity_and_reopens_as_passes_drop() {
        let gate = Gate::new(2);
        let first = gate.try_enter().unwrap();
        let _second = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        drop(first);
        assert!(gate.try_enter().is_some());
    }
}
