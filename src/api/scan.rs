//! `GET /d/{token}`: what a phone opens when it scans a doorplate.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::extract::PathParams;
use crate::doorplate::{DoorplateError, ScanClient, ScanResolution, page};
use crate::error::{Error, ErrorBody, ErrorCode};

/// The address of the client: the peer, or the first `X-Forwarded-For` hop when the
/// service is configured to sit behind a trusted proxy.
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(
            &parts.headers,
            &parts.extensions,
            state.config.trust_forwarded_for,
        )))
    }
}

pub(crate) fn client_address(
    headers: &HeaderMap,
    extensions: &Extensions,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|first| first.trim().parse().ok())
    {
        return Some(forwarded);
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// JSON when the client asks for it and not for HTML; a page otherwise.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // The status of a plate can change at any time; a cached page would hide a revocation.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn error_json(code: ErrorCode, message: String, details: Option<serde_json::Value>) -> Response {
    let body = ErrorBody {
        code: code.as_str(),
        message,
        details,
    };
    (code.http_status(), Json(body)).into_response()
}

/// Resolve a doorplate QR code: the official record of the plate's address.
#[utoipa::path(get, path = "/d/{token}", tag = "doorplates",
    params(("token" = String, Path, description = "The token printed in the plate's QR code")),
    responses(
        (status = 200, description = "A plate in service: a mobile page, or JSON with Accept: application/json",
            content((crate::doorplate::ScanView = "application/json"), (String = "text/html"))),
        (status = 404, description = "Not a plate this registry issued (invalid_doorplate_token)",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 410, description = "A replaced or revoked plate; details name the current plate and the address",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many scans from this client (rate_limited); see Retry-After",
            content((ErrorBody = "application/json"), (String = "text/html")))))]
pub async fn scan_plate(
    State(state): State<AppState>,
    ClientAddress(client_address): ClientAddress,
    headers: HeaderMap,
    PathParams(token): PathParams<String>,
) -> Response {
    let json = wants_json(&headers);
    let response = match answer_scan(&state, client_address, &headers, &token, json).await {
        Ok(response) => response,
        Err(Error::Doorplate(DoorplateError::InvalidToken)) if !json => {
            (StatusCode::NOT_FOUND, Html(page::invalid_plate_page())).into_response()
        }
        Err(Error::Doorplate(DoorplateError::RateLimited {
            retry_after_seconds,
        })) => {
            let mut response = if json {
                Error::from(DoorplateError::RateLimited {
                    retry_after_seconds,
                })
                .into_response()
            } else {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Html(page::rate_limited_page(retry_after_seconds)),
                )
                    .into_response()
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            response
        }
        Err(error) => error.into_response(),
    };
    with_page_headers(response)
}

async fn answer_scan(
    state: &AppState,
    client_address: Option<IpAddr>,
    headers: &HeaderMap,
    token: &str,
    json: bool,
) -> Result<Response, Error> {
    let doorplates = &state.doorplates;
    doorplates.admit_scan(client_address)?;
    let (plate_id, resolution) = doorplates.resolve(token).await?;
    let client = ScanClient {
        address: client_address,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
        format: if json { "json" } else { "html" },
    };
    doorplates.log_scan(plate_id, &resolution, &client);
    Ok(match resolution {
        ScanResolution::Current(view) if json => Json(view).into_response(),
        ScanResolution::Current(view) => Html(page::current_plate_page(&view)).into_response(),
        ScanResolution::Ended { view, current } if json => {
            let code = match view.plate.status {
                crate::domain::doorplate::PlateStatus::Replaced => ErrorCode::DoorplateReplaced,
                _ => ErrorCode::DoorplateRevoked,
            };
            let message = format!(
                "plate {} is {}; its QR code no longer identifies the address",
                view.plate.serial,
                view.plate.status.as_str()
            );
            let details = json!({
                "plate": view.plate,
                "address": view.address,
                "current_plate": current,
            });
            error_json(code, message, Some(details))
        }
        ScanResolution::Ended { view, current } => (
            StatusCode::GONE,
            Html(page::ended_plate_page(&view, current.as_ref())),
        )
            .into_response(),
    })
}
