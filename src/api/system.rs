//! Liveness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use super::AppState;
use crate::error::Result;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub divisions: usize,
}

/// 200 once the service has loaded its data and serves requests.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        divisions: state.registry.divisions().len(),
    })
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse> {
    let addresses = state.registry.store().count_addresses().await?;
    let divisions = state.registry.divisions().len();
    let body = state.metrics.render(&[
        (
            "yzt_addresses",
            "Standard addresses in the registry, active and retired.",
            addresses as f64,
        ),
        (
            "yzt_divisions",
            "Divisions in the in-memory tree.",
            divisions as f64,
        ),
        (
            "yzt_doorplate_scans_dropped",
            "Plate scans not logged because the scan log's buffer was full (the store was unreachable).",
            state.doorplates.scans_dropped() as f64,
        ),
    ]);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
