//! Admission control: what runs at once, how long it may take, and how often one
//! caller may ask. Each refusal is a 4xx with a stable code, decided before the
//! request costs anything.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::scan::client_address;
use crate::auth::Principal;
use crate::config::Limits;
use crate::error::{Error, RequestError};
use crate::limits::{Gate, RateLimiter, client_key};

pub struct Admission {
    pub requests: Gate,
    pub batches: Gate,
    per_key: RateLimiter<String>,
    per_client: RateLimiter<IpAddr>,
    timeout: Option<Duration>,
}

impl Admission {
    pub fn new(limits: &Limits) -> Self {
        Admission {
            requests: Gate::new(limits.max_concurrent_requests),
            batches: Gate::new(limits.max_concurrent_batches),
            per_key: RateLimiter::new(limits.rate_per_key_per_minute),
            per_client: RateLimiter::new(limits.rate_per_client_per_minute),
            timeout: limits.request_timeout,
        }
    }

    /// Spends one request of the caller's budget: a key's own, or, without a key, its
    /// client address's. A caller whose address is unknown (an in-process client) has
    /// no per-client budget.
    pub(crate) fn charge(
        &self,
        principal: &Principal,
        client: Option<IpAddr>,
    ) -> Result<(), RequestError> {
        let now = Instant::now();
        let (scope, outcome) = match principal {
            Principal::Key { id, .. } => ("key", self.per_key.check(id, now)),
            Principal::Anonymous => match client {
                Some(client) => ("client", self.per_client.check(&client_key(client), now)),
                None => return Ok(()),
            },
        };
        outcome.map_err(|wait| RequestError::RateLimited {
            scope,
            retry_after_seconds: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

/// Paths that monitoring and phones reach and that have budgets of their own (the
/// public scan page limits per client itself); they are never refused here.
fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics") || path.starts_with("/d/")
}

/// The outer gate: refuses work past the concurrency limit and stops work that runs
/// past the request timeout. A write cut off by the timeout is rolled back whole or
/// committed whole by its store transaction, never half-written.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let admission = &state.admission;
    let Some(_pass) = admission.requests.try_enter() else {
        return Error::from(RequestError::Overloaded {
            limit: admission.requests.capacity(),
            what: "requests",
        })
        .into_response();
    };
    match admission.timeout {
        None => next.run(request).await,
        Some(limit) => match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => Error::from(RequestError::RequestTimeout {
                seconds: limit.as_secs(),
            })
            .into_response(),
        },
    }
}

/// Charges the rate limits once the caller is known (see [`super::authenticate`]).
pub(crate) fn charge_request(
    state: &AppState,
    request: &Request,
    principal: &Principal,
) -> Result<(), Error> {
    if is_exempt(request.uri().path()) {
        return Ok(());
    }
    let client = client_address(
        request.headers(),
        request.extensions(),
        state.config.trust_forwarded_for,
    );
    Ok(state.admission.charge(principal, client)?)
}
