//! The scan log and the per-client limit on public scans.
//!
//! A scan must cost microseconds, so it never waits for the database: records are
//! appended to a buffer in memory and written in multi-row statements once a second
//! (design: "Performance facts"). A client is identified only by a keyed hash of its
//! address and the day.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{ScanRecord, Store, StoreError};

/// Scans held in memory at most; beyond this (the store has been down for a while)
/// new scans are counted as dropped rather than growing without bound.
const MAX_PENDING_SCANS: usize = 1_000_000;

pub struct ScanLog {
    store: Arc<dyn Store>,
    pending: Mutex<Vec<ScanRecord>>,
    /// Serialises flushes so records reach the store in scan order.
    flushing: tokio::sync::Mutex<()>,
    dropped: AtomicU64,
    client_key: Hmac<Sha256>,
}

impl ScanLog {
    pub fn new(store: Arc<dyn Store>, secret: &[u8]) -> Self {
        let mut client_key =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
        client_key.update(b"yizhitong scan client v1");
        ScanLog {
            store,
            pending: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
            dropped: AtomicU64::new(0),
            client_key,
        }
    }

    /// A keyed hash of the client address and the UTC day: the same client counts once
    /// a day, and the log holds nothing that leads back to the address.
    pub fn client_hash(&self, client: Option<IpAddr>, day: i64) -> String {
        let Some(client) = client else {
            return "unknown".to_owned();
        };
        let mut mac = self.client_key.clone();
        mac.update(&day.to_be_bytes());
        match client {
            IpAddr::V4(address) => mac.update(&address.octets()),
            IpAddr::V6(address) => mac.update(&address.octets()),
        }
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    pub fn record(&self, record: ScanRecord) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= MAX_PENDING_SCANS {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.push(record);
    }

    /// Scans dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes every buffered scan. On failure the scans go back to the buffer, ahead
    /// of any that arrived meanwhile, for the next attempt.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _flushing = self.flushing.lock().await;
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(0);
        }
        match self.store.record_scans(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(error) => {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let arrived = std::mem::replace(&mut *pending, batch);
                let room = MAX_PENDING_SCANS.saturating_sub(pending.len());
                let kept = arrived.len().min(room);
                self.dropped
                    .fetch_add((arrived.len() - kept) as u64, Ordering::Relaxed);
                pending.extend(arrived.into_iter().take(kept));
                Err(error)
            }
        }
    }

    /// Flushes once a second until the log is dropped.
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let log = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(log) = log.upgrade() else { return };
                if let Err(error) = log.flush().await {
                    tracing::warn!(%error, "scan log flush failed; will retry");
                }
            }
        })
    }
}

/// A coarse client family from the User-Agent; nothing finer is kept.
pub fn client_kind(user_agent: Option<&str>) -> &'static str {
    let Some(agent) = user_agent else {
        return "other";
    };
    let lower = agent.to_ascii_lowercase();
    if lower.contains("micromessenger") {
        "wechat"
    } else if lower.contains("alipayclient") {
        "alipay"
    } else if [
        "bot", "spider", "crawl", "curl", "wget", "python", "java/", "go-http",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
    {
        "bot"
    } else if lower.contains("android") {
        "android"
    } else if lower.contains("iphone") || lower.contains("ipad") {
        "ios"
    } else if ["windows", "macintosh", "x11", "linux", "cros"]
        .iter()
        .any(|marker| lower.contains(marker))
    {
        "desktop"
    } else {
        "other"
    }
}

const LIMITER_SHARDS: usize = 16;
/// Clients remembered per shard before idle ones are forgotten.
const LIMITER_SHARD_CAPACITY: usize = 8_192;

/// A token bucket per client: a minute's allowance as the burst, refilled evenly.
/// IPv6 clients are keyed by their /64, which one subscriber usually holds whole.
pub struct ScanRateLimiter {
    per_minute: u32,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl ScanRateLimiter {
    pub fn new(per_minute: u32) -> Self {
        ScanRateLimiter {
            per_minute,
            shards: (0..LIMITER_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    fn key(client: IpAddr) -> IpAddr {
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

    /// `Ok` when the client may scan now, else how long until it may.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = Self::key(client);
        let shard_index = match key {
            IpAddr::V4(address) => u32::from(address) as usize,
            IpAddr::V6(address) => (u128::from(address) >> 64) as usize,
        } % LIMITER_SHARDS;
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut shard = self.shards[shard_index]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if shard.len() >= LIMITER_SHARD_CAPACITY && !shard.contains_key(&key) {
            // A full bucket is a client with no recent scans: forgetting it changes nothing.
            shard.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second
                    < capacity
            });
        }
        let bucket = shard.entry(key).or_insert(Bucket {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_a_minute_of_scans_then_waits() {
        let limiter = ScanRateLimiter::new(6);
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let start = Instant::now();
        for _ in 0..6 {
            assert!(limiter.check(client, start).is_ok());
        }
        let wait = limiter.check(client, start).unwrap_err();
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));
        assert!(
            limiter
                .check(client, start + Duration::from_secs(10))
                .is_ok()
        );
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        assert!(limiter.check(other, start).is_ok());
    }

    #[test]
    fn ipv6_clients_share_their_prefix() {
        let limiter = ScanRateLimiter::new(1);
        let now = Instant::now();
        assert!(limiter.check("2001:db8::1".parse().unwrap(), now).is_ok());
        assert!(limiter.check("2001:db8::2".parse().unwrap(), now).is_err());
        assert!(
            limiter
                .check("2001:db8:0:1::1".parse().unwrap(), now)
                .is_ok()
        );
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = ScanRateLimiter::new(0);
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.check("198.51.100.1".parse().unwrap(), now).is_ok());
        }
    }

    #[test]
    fn client_kinds_are_coarse() {
        let wechat = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40";
        assert_eq!(client_kind(Some(wechat)), "wechat");
        assert_eq!(
            client_kind(Some("Mozilla/5.0 (Linux; Android 14; Pixel 8)")),
            "android"
        );
        assert_eq!(client_kind(Some("curl/8.5.0")), "bot");
        assert_eq!(client_kind(None), "other");
    }
}
