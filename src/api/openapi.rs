//! The OpenAPI 3.1 document, generated from the handlers, and the Swagger UI at
//! `/docs`, served from assets built into the binary (no network needed).

use axum::Router;
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    modifiers(&BearerKey),
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

pub fn docs_router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
