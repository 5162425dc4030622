//! Request counters and latency histograms in the Prometheus text format.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct RouteLatency {
    bucket_counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, String, u16), u64>>,
    latency: Mutex<HashMap<String, RouteLatency>>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let route_latency = latency.entry(route.to_owned()).or_default();
        route_latency.count += 1;
        route_latency.sum_seconds += seconds;
        for (bucket, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                route_latency.bucket_counts[bucket] += 1;
            }
        }
    }

    /// Renders every metric; `gauges` are point-in-time values supplied by the caller.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut text = String::new();
        text.push_str(
            "# HELP yzt_http_requests_total HTTP requests by method, route and status.\n",
        );
        text.push_str("# TYPE yzt_http_requests_total counter\n");
        let requests = self.requests.lock().expect("metrics lock");
        let mut keys: Vec<_> = requests.keys().collect();
        keys.sort();
        for key @ (method, route, status) in keys {
            let _ = writeln!(
                text,
                "yzt_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                requests[key]
            );
        }
        drop(requests);
        text.push_str("# HELP yzt_http_request_duration_seconds HTTP request latency by route.\n");
        text.push_str("# TYPE yzt_http_request_duration_seconds histogram\n");
        let latency = self.latency.lock().expect("metrics lock");
        let mut routes: Vec<_> = latency.keys().collect();
        routes.sort();
        for route in routes {
            let route_latency = &latency[route];
            for (bucket, bound) in LATENCY_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    text,
                    "yzt_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    route_latency.bucket_counts[bucket]
                );
            }
            let _ = writeln!(
                text,
                "yzt_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                route_latency.count
            );
            let _ = writeln!(
                text,
                "yzt_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                route_latency.sum_seconds
            );
            let _ = writeln!(
                text,
                "yzt_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                route_latency.count
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        text
    }
}

/// Records every request under its route template (`/v1/addresses/{code}`), never
/// under the raw path, so label cardinality stays bounded.
pub async fn record_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
