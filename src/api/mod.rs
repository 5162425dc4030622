//! The HTTP API: one file per resource, thin handlers over the engines.

pub mod addresses;
pub mod admission;
pub mod audit;
pub(crate) mod batch_stream;
pub mod boundaries;
pub mod codes;
pub mod compare;
pub mod divisions;
pub mod doorplates;
pub mod extract;
pub mod geocoding;
pub mod inspections;
pub mod markers;
pub mod matching;
pub mod metrics;
pub mod openapi;
pub mod scan;
pub mod suggest;
pub mod system;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::Opened;
use crate::auth::{AuthError, KeyVerifier, Principal, VerifyError};
use crate::config::Config;
use crate::doorplate::DoorplateService;
use crate::error::{Error, RequestError};
use crate::geocoding::Geocoder;
use crate::matching::MatchEngine;
use crate::registry::Registry;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub matcher: Arc<MatchEngine>,
    pub geocoder: Arc<Geocoder>,
    pub doorplates: Arc<DoorplateService>,
    pub boundaries: Arc<crate::inspection::county_lines::CountyLines>,
    pub inspections: Arc<crate::inspection::service::InspectionService>,
    pub keys: Arc<KeyVerifier>,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
    pub admission: Arc<admission::Admission>,
}

impl AppState {
    pub fn new(opened: &Opened, config: Config) -> Self {
        let keys = Arc::new(KeyVerifier::new(opened.store.clone()));
        AppState {
            registry: opened.registry.clone(),
            matcher: opened.matcher.clone(),
            geocoder: opened.geocoder.clone(),
            doorplates: opened.doorplates.clone(),
            boundaries: opened.boundaries.clone(),
            inspections: opened.inspections.clone(),
            keys,
            admission: Arc::new(admission::Admission::new(&config.limits)),
            config: Arc::new(config),
            metrics: Arc::default(),
        }
    }
}

/// The largest GeoJSON upload (a county outline at survey resolution, or a day's
/// tracks): bigger than the JSON limit, and still read whole to be checked.
const GEOJSON_BODY_BYTES: usize = 32 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/divisions", get(divisions::search_divisions))
        .route("/divisions/{code}", get(divisions::get_division))
        .route(
            "/divisions/{code}/children",
            get(divisions::division_children),
        )
        .route(
            "/addresses",
            post(addresses::create_address).get(addresses::list_addresses),
        )
        .route(
            "/addresses/{code}",
            get(addresses::get_address).patch(addresses::patch_address),
        )
        .route("/addresses/{code}/retire", post(addresses::retire_address))
        .route("/addresses/{code}/history", get(addresses::address_history))
        .route("/codes/{code}/validate", get(codes::validate_code))
        .route("/parse", get(matching::parse_address))
        .route(
            "/match",
            get(matching::match_get).post(matching::match_post),
        )
        .route(
            "/match/batch",
            // The body is streamed, never buffered, and bounded by its own limit.
            post(matching::match_batch).layer(DefaultBodyLimit::disable()),
        )
        .route("/reverse", get(geocoding::reverse))
        .route(
            "/reverse/batch",
            post(geocoding::reverse_batch).layer(DefaultBodyLimit::disable()),
        )
        .route("/geocode", get(geocoding::geocode))
        .route(
            "/geocode/batch",
            post(geocoding::geocode_batch).layer(DefaultBodyLimit::disable()),
        )
        .route("/suggest", get(suggest::suggest))
        .route("/compare", post(compare::compare_addresses))
        .route(
            "/doorplates",
            post(doorplates::issue_plate).get(doorplates::plates_of_address),
        )
        .route("/doorplates/batch", post(doorplates::issue_plates))
        .route("/doorplates/sheet", get(doorplates::plate_sheet))
        .route(
            "/doorplates/scan-statistics",
            get(doorplates::scan_statistics),
        )
        .route("/doorplates/{id}", get(doorplates::get_plate))
        .route("/doorplates/{id}/revoke", post(doorplates::revoke_plate))
        .route("/doorplates/{id}/replace", post(doorplates::replace_plate))
        .route("/doorplates/{id}/qr.svg", get(doorplates::plate_qr_svg))
        .route("/doorplates/{id}/qr.png", get(doorplates::plate_qr_png))
        .route(
            "/doorplates/{id}/plate.svg",
            get(doorplates::plate_face_svg),
        )
        .route("/doorplates/{id}/scans", get(doorplates::plate_scans))
        .route("/boundaries", get(boundaries::list_lines))
        .route(
            "/boundaries/{id}",
            get(boundaries::get_line).put(boundaries::register_line),
        )
        .route(
            "/boundaries/{id}/geometry",
            put(boundaries::import_official_line).layer(DefaultBodyLimit::max(GEOJSON_BODY_BYTES)),
        )
        .route(
            "/boundaries/{id}/markers",
            get(markers::list_markers).post(markers::import_markers),
        )
        .route(
            "/boundaries/{id}/markers/{number}",
            get(markers::get_marker)
                .put(markers::put_marker)
                .delete(markers::delete_marker),
        )
        .route(
            "/boundaries/{id}/inspections",
            get(inspections::list_rounds).post(inspections::create_round),
        )
        .route(
            "/boundaries/{id}/inspections/comparison",
            get(inspections::compare_rounds),
        )
        .route("/inspections/{round}", get(inspections::get_round))
        .route(
            "/inspections/{round}/observations",
            get(inspections::list_observations).post(inspections::import_observations),
        )
        .route(
            "/inspections/{round}/tracks",
            put(inspections::import_tracks).layer(DefaultBodyLimit::max(GEOJSON_BODY_BYTES)),
        )
        .route(
            "/inspections/{round}/outlines/{county}",
            put(inspections::import_outline).layer(DefaultBodyLimit::max(GEOJSON_BODY_BYTES)),
        )
        .route(
            "/inspections/{round}/report",
            get(inspections::get_report).post(inspections::build_report),
        )
        .route(
            "/boundaries/{id}/misplaced-addresses",
            get(boundaries::misplaced_addresses),
        )
        .route("/audit", get(audit::audit_log));
    let cors = cors_layer(&state.config);
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/d/{token}", get(scan::scan_plate))
        .merge(openapi::docs_router())
        .nest("/v1", v1)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            admission::admit,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_json_body_bytes))
        .layer(cors)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record_request,
        ))
        .with_state(state)
}

fn cors_layer(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let layer = CorsLayer::new()
        .allow_methods(tower_http::cors::Any)
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    if config
        .cors_allowed_origins
        .iter()
        .any(|origin| origin == "*")
    {
        layer.allow_origin(tower_http::cors::Any)
    } else {
        layer.allow_origin(AllowOrigin::list(origins))
    }
}

async fn route_not_found(request: Request) -> Error {
    RequestError::RouteNotFound(request.uri().path().to_owned()).into()
}

async fn method_not_allowed() -> Error {
    RequestError::MethodNotAllowed.into()
}

/// Resolves the bearer key into a [`Principal`] for the handlers and charges its rate
/// limit. A key that is sent must be valid; reads without a key pass unless the
/// configuration requires one.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned)
    });
    let principal = match presented {
        None => Principal::Anonymous,
        Some(None) => return Error::from(AuthError::InvalidKey).into_response(),
        Some(Some(key)) => match state.keys.verify(&key).await {
            Ok(principal) => principal,
            Err(VerifyError::Auth(error)) => return Error::from(error).into_response(),
            Err(VerifyError::Store(error)) => return Error::from(error).into_response(),
        },
    };
    let guarded = request.uri().path().starts_with("/v1/");
    if guarded && state.config.require_read_key && principal == Principal::Anonymous {
        return Error::from(AuthError::MissingKey).into_response();
    }
    if let Err(error) = admission::charge_request(&state, &request, &principal) {
        return error.into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// Keyset cursors are opaque to clients: the last code of a page, base64url-encoded.
pub(crate) mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::error::RequestError;

    pub fn encode(last_key: &str) -> String {
        URL_SAFE_NO_PAD.encode(last_key.as_bytes())
    }

    pub fn decode(cursor: &str) -> Result<String, RequestError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor.as_bytes())
            .map_err(|_| RequestError::InvalidCursor)?;
        String::from_utf8(bytes).map_err(|_| RequestError::InvalidCursor)
    }
}

/// The page size a list request asked for, checked against the maximum.
pub(crate) fn page_size(
    requested: Option<u32>,
    default: u32,
    maximum: u32,
) -> Result<u32, RequestError> {
    match requested {
        None => Ok(default),
        Some(0) => Err(RequestError::InvalidRequest(
            "limit must be at least 1".into(),
        )),
        Some(requested) if requested > maximum => {
            Err(RequestError::PageSizeTooLarge { requested, maximum })
        }
        Some(requested) => Ok(requested),
    }
}
