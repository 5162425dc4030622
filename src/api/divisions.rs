//! `/v1/divisions`: the division tree.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{PathParams, QueryParams, check_text_length};
use super::geocoding::crs_parameter;
use super::{AppState, page_size};
use crate::domain::division::{Division, DivisionLevel};
use crate::error::{ErrorBody, RequestError, Result};
use crate::index::polygons::multipolygon_geojson;

/// Division names are short; a longer query cannot name one.
const MAX_DIVISION_QUERY_CHARS: usize = 100;

/// A division with its ancestry, as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DivisionView {
    #[serde(flatten)]
    pub division: Division,
    /// True while the division exists; false after a rename or merge.
    pub current: bool,
    /// Ancestors from the province down to the parent.
    pub parents: Vec<DivisionRef>,
    /// With `?geometry=true`: the division's polygon as a GeoJSON MultiPolygon in
    /// `out_crs`, or null when the registry holds none for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DivisionQuery {
    /// Include the polygon; default false.
    pub geometry: Option<bool>,
    /// System of the polygon's coordinates: `wgs84` (default), `gcj02` or `bd09`.
    pub out_crs: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DivisionRef {
    pub code: String,
    pub name: String,
    pub level: DivisionLevel,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DivisionList {
    pub divisions: Vec<DivisionView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DivisionSearch {
    /// Name, short name or alias; a prefix also matches.
    #[param(min_length = 1)]
    pub q: String,
    /// At most 100; default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn view(state: &AppState, division: Division) -> DivisionView {
    let mut chain = state.registry.divisions().chain(&division.code);
    chain.pop();
    DivisionView {
        current: division.is_current(),
        parents: chain
            .into_iter()
            .map(|ancestor| DivisionRef {
                code: ancestor.code,
                name: ancestor.name,
                level: ancestor.level,
            })
            .collect(),
        division,
        geometry: None,
    }
}

/// One division by code (2, 4, 6, 9 or 12 digits).
#[utoipa::path(get, path = "/v1/divisions/{code}", tag = "divisions",
    params(("code" = String, Path, description = "Division code, e.g. 330212 or 330212001005"), DivisionQuery),
    responses((status = 200, body = DivisionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_division(
    State(state): State<AppState>,
    PathParams(code): PathParams<String>,
    QueryParams(query): QueryParams<DivisionQuery>,
) -> Result<Json<DivisionView>> {
    let out_crs = crs_parameter(query.out_crs.as_deref())?;
    let division = state.registry.division(&code)?;
    let numeric_code: Option<u64> = division.code.parse().ok();
    let mut view = view(&state, division);
    if query.geometry == Some(true) {
        let shape = numeric_code.and_then(|code| state.geocoder.polygons().shape(code));
        view.geometry = Some(match shape {
            Some(shape) => multipolygon_geojson(shape, |lon, lat| out_crs.from_wgs84(lon, lat)),
            None => serde_json::Value::Null,
        });
    }
    Ok(Json(view))
}

/// The divisions directly below one division.
#[utoipa::path(get, path = "/v1/divisions/{code}/children", tag = "divisions",
    params(("code" = String, Path, description = "Division code")),
    responses((status = 200, body = DivisionList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn division_children(
    State(state): State<AppState>,
    PathParams(code): PathParams<String>,
) -> Result<Json<DivisionList>> {
    let division = state.registry.division(&code)?;
    let children = state
        .registry
        .divisions()
        .children(&division.code)
        .unwrap_or_default();
    Ok(Json(DivisionList {
        divisions: children
            .into_iter()
            .map(|child| view(&state, child))
            .collect(),
    }))
}

/// Divisions by name, short name or alias: exact matches first, then prefixes.
#[utoipa::path(get, path = "/v1/divisions", tag = "divisions", params(DivisionSearch),
    responses((status = 200, body = DivisionList), (status = 400, body = ErrorBody)))]
pub async fn search_divisions(
    State(state): State<AppState>,
    QueryParams(search): QueryParams<DivisionSearch>,
) -> Result<Json<DivisionList>> {
    let limit = page_size(search.limit, 20, 100)?;
    if search.q.trim().is_empty() {
        return Err(RequestError::InvalidRequest("q must not be empty".into()).into());
    }
    check_text_length("q", &search.q, MAX_DIVISION_QUERY_CHARS)?;
    let found = state.registry.divisions().search(&search.q, limit as usize);
    Ok(Json(DivisionList {
        divisions: found
            .into_iter()
            .map(|division| view(&state, division))
            .collect(),
    }))
}
