//! The scan log and the per-client limit on public scans.
//!
//! A scan must cost microseconds, so it never waits for the database: records are
//! appended to a buffer in memory and written in multi-row statements once a second
//! (design: "Performance facts"). A client is identified only by a keyed hash of its
//! address and the day.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::limits::{RateLimiter, client_key};
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

/// The per-client limit on public scans, keyed as [`crate::limits::client_key`] says.
pub struct ScanRateLimiter {
    limiter: RateLimiter<IpAddr>,
}

impl ScanRateLimiter {
    pub fn new(per_minute: u32) -> Self {
        ScanRateLimiter {
            limiter: RateLimiter::new(per_minute),
        }
    }

    /// `Ok` when the client may scan now, else how long until it may.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        self.limiter.check(&client_key(client), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_limited_per_client() {
        let limiter = ScanRateLimiter::new(2);
        let now = Instant::now();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(limiter.check(client, now).is_ok());
        assert!(limiter.check(client, now).is_ok());
        assert!(limiter.check(client, now).is_err());
        assert!(limiter.check("203.0.113.10".parse().unwrap(), now).is_ok());
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
