//! The OpenAPI 3.1 document, generated from the handlers, and the Swagger UI at
//! `/docs`, served from assets built into the binary (no network needed).

use axum::Router;
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa_swagger_ui::SwaggerUi;

use super::{
    AppState, addresses, audit, boundaries, codes, compare, divisions, doorplates, geocoding,
    inspections, markers, matching, scan, suggest, system,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "一址通 yizhitong", description = "Standard place names and addresses: the registry API."),
    paths(
        system::healthz,
        system::metrics,
        divisions::get_division,
        divisions::division_children,
        divisions::search_divisions,
        addresses::create_address,
        addresses::get_address,
        addresses::patch_address,
        addresses::retire_address,
        addresses::address_history,
        addresses::list_addresses,
        codes::validate_code,
        audit::audit_log,
        matching::parse_address,
        matching::match_get,
        matching::match_post,
        matching::match_batch,
        suggest::suggest,
        compare::compare_addresses,
        geocoding::reverse,
        geocoding::geocode,
        geocoding::reverse_batch,
        geocoding::geocode_batch,
        doorplates::issue_plate,
        doorplates::issue_plates,
        doorplates::plates_of_address,
        doorplates::get_plate,
        doorplates::revoke_plate,
        doorplates::replace_plate,
        doorplates::plate_qr_svg,
        doorplates::plate_qr_png,
        doorplates::plate_face_svg,
        doorplates::plate_sheet,
        doorplates::plate_scans,
        doorplates::scan_statistics,
        scan::scan_plate,
        boundaries::list_lines,
        boundaries::get_line,
        boundaries::misplaced_addresses,
        boundaries::register_line,
        boundaries::import_official_line,
        markers::list_markers,
        markers::import_markers,
        markers::get_marker,
        markers::put_marker,
        markers::delete_marker,
        inspections::create_round,
        inspections::list_rounds,
        inspections::compare_rounds,
        inspections::get_round,
        inspections::list_observations,
        inspections::import_observations,
        inspections::import_tracks,
        inspections::import_outline,
        inspections::build_report,
        inspections::get_report,
    ),
    modifiers(&BearerKey, &CommonResponses),
    tags(
        (name = "divisions", description = "NBS administrative divisions"),
        (name = "addresses", description = "The standard-address registry"),
        (name = "matching", description = "Free-text addresses to components and standard codes"),
        (name = "geocoding", description = "Points to divisions and addresses, and back; WGS84/CGCS2000, GCJ-02 and BD-09"),
        (name = "doorplates", description = "Digital doorplates (数字门牌): plates, QR codes, the public scan and its log"),
        (name = "boundaries", description = "County boundary lines (界线) of the registry's polygons, their registration and markers (界桩)"),
        (name = "inspections", description = "Joint inspection rounds (联检) of a line: observations, tracks, outlines and the stored report"),
        (name = "audit", description = "Who changed what"),
        (name = "system", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("yizhitong keys create"))
                    .build(),
            ),
        );
    }
}

/// Answers any operation may give besides its own, from the layers every request goes
/// through (authentication, admission control, the body limits), added once here so
/// that the document lists every status a client can receive.
struct CommonResponses;

impl CommonResponses {
    fn error(description: &str) -> RefOr<Response> {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build(),
        )
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let admitted = !(path == "/healthz" || path == "/metrics" || path.starts_with("/d/"));
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let mut common = Vec::new();
                if path.starts_with("/v1/") {
                    common.push((
                        "400",
                        "A malformed parameter or path (invalid_request and others)",
                    ));
                    common.push((
                        "401",
                        "A key that is not valid, or none where one is required",
                    ));
                }
                if admitted {
                    common.push((
                        "408",
                        "The request ran past the time limit (request_timeout)",
                    ));
                    common.push(("429", "Over a rate limit (rate_limited) or the concurrency limit (overloaded); see Retry-After"));
                }
                if operation.request_body.is_some() {
                    common.push(("413", "The body is larger than allowed (payload_too_large)"));
                    common.push((
                        "415",
                        "The body's Content-Type is not one this operation reads",
                    ));
                }
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| CommonResponses::error(description));
                }
            }
        }
    }
}

pub fn docs_router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
