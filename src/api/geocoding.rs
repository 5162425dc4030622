//! `/v1/reverse` and `/v1/geocode`, one at a time and in batches.

use std::str::FromStr;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::batch_stream::{batch_options, stream_batch};
use super::extract::{QueryParams, checked_column, checked_limit};
use super::matching::checked_address;
use crate::error::{ErrorBody, RequestError, Result};
use crate::geo::{Crs, GeoError, checked_point};
use crate::geocoding::batch::{GeocodeRows, ReverseRows};
use crate::geocoding::{
    DEFAULT_REVERSE_LIMIT, DEFAULT_REVERSE_RADIUS_M, Geocoded, MAX_REVERSE_LIMIT,
    MAX_REVERSE_RADIUS_M, ReverseResult,
};
use crate::matching::batch::DEFAULT_ADDRESS_COLUMN;

/// Reverse answers default to the single nearest address in a batch row.
const DEFAULT_BATCH_REVERSE_LIMIT: usize = 1;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReverseQuery {
    /// Longitude in `crs`.
    #[param(required = true)]
    pub lon: Option<String>,
    /// Latitude in `crs`.
    #[param(required = true)]
    pub lat: Option<String>,
    /// System of `lon`/`lat`: `wgs84` (default; also `cgcs2000`), `gcj02` or `bd09`.
    pub crs: Option<String>,
    /// System of the returned points; default `wgs84`.
    pub out_crs: Option<String>,
    /// Search radius in metres, above 0 and at most 5000; default 200.
    pub radius: Option<String>,
    /// Addresses to return, 1 to 100; default 10.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReverseResponse {
    #[serde(flatten)]
    pub result: ReverseResult,
    /// The system of every returned point.
    pub crs: Crs,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeocodeQuery {
    /// The address text, at most 500 characters.
    #[param(required = true, min_length = 1, max_length = 500)]
    pub q: Option<String>,
    /// System of the returned point; default `wgs84`.
    pub out_crs: Option<String>,
    /// `json` (default) or `geojson` (a FeatureCollection).
    pub format: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeocodeResponse {
    pub input: String,
    /// The best standard address, or the deepest division the text names; null when
    /// it names nothing the registry knows.
    pub result: Option<Geocoded>,
    /// The system of the returned point.
    pub crs: Crs,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReverseBatchQuery {
    /// The CSV column (or JSON field) of the longitude; default `lon`.
    pub lon_column: Option<String>,
    /// The CSV column (or JSON field) of the latitude; default `lat`.
    pub lat_column: Option<String>,
    pub crs: Option<String>,
    pub out_crs: Option<String>,
    /// Metres, above 0 and at most 5000; default 200.
    pub radius: Option<String>,
    /// Addresses per JSON line, 1 to 100; default 1. CSV rows carry the nearest.
    pub limit: Option<usize>,
    /// Input charset, `utf-8` or `gbk`; overrides the Content-Type parameter.
    pub charset: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeocodeBatchQuery {
    /// The CSV column (or JSON field) holding the address; default `address`.
    pub column: Option<String>,
    pub out_crs: Option<String>,
    /// Input charset, `utf-8` or `gbk`; overrides the Content-Type parameter.
    pub charset: Option<String>,
}

pub(crate) fn crs_parameter(value: Option<&str>) -> Result<Crs> {
    match value {
        None => Ok(Crs::Wgs84),
        Some(text) => Ok(Crs::from_str(text).map_err(GeoError::from)?),
    }
}

fn coordinate_parameter(
    value: Option<&str>,
    invalid: fn(String) -> GeoError,
) -> Result<Option<f64>> {
    match value {
        None => Ok(None),
        Some(text) => match text.trim().parse::<f64>() {
            Ok(number) => Ok(Some(number)),
            Err(_) => Err(invalid(text.to_owned()).into()),
        },
    }
}

fn radius_parameter(value: Option<&str>) -> Result<f64> {
    let Some(text) = value else {
        return Ok(DEFAULT_REVERSE_RADIUS_M);
    };
    let out_of_range = || GeoError::RadiusOutOfRange {
        given: text.to_owned(),
        min: 0.0,
        max: MAX_REVERSE_RADIUS_M,
    };
    let radius: f64 = text.trim().parse().map_err(|_| out_of_range())?;
    if radius.is_finite() && radius > 0.0 && radius <= MAX_REVERSE_RADIUS_M {
        Ok(radius)
    } else {
        Err(out_of_range().into())
    }
}

/// The division containing a point and the standard addresses nearest to it.
#[utoipa::path(get, path = "/v1/reverse", tag = "geocoding", params(ReverseQuery),
    responses((status = 200, body = ReverseResponse),
        (status = 400, body = ErrorBody, description = "invalid_coordinates, unknown_crs, radius_out_of_range or invalid_request")))]
pub async fn reverse(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ReverseQuery>,
) -> Result<Json<ReverseResponse>> {
    let crs = crs_parameter(query.crs.as_deref())?;
    let out_crs = crs_parameter(query.out_crs.as_deref())?;
    let lon = coordinate_parameter(query.lon.as_deref(), GeoError::InvalidLongitude)?;
    let lat = coordinate_parameter(query.lat.as_deref(), GeoError::InvalidLatitude)?;
    let (lon, lat) = checked_point(lon, lat, crs)?;
    let radius = radius_parameter(query.radius.as_deref())?;
    let limit = checked_limit(query.limit, DEFAULT_REVERSE_LIMIT, MAX_REVERSE_LIMIT)?;
    let result = state.geocoder.reverse(lon, lat, radius, limit, out_crs);
    Ok(Json(ReverseResponse {
        result,
        crs: out_crs,
    }))
}

/// The point of the standard address (or division) free text most likely means.
#[utoipa::path(get, path = "/v1/geocode", tag = "geocoding", params(GeocodeQuery),
    responses((status = 200, body = GeocodeResponse,
            description = "JSON, or with format=geojson a FeatureCollection of zero or one Point feature"),
        (status = 400, body = ErrorBody)))]
pub async fn geocode(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<GeocodeQuery>,
) -> Result<Response> {
    let out_crs = crs_parameter(query.out_crs.as_deref())?;
    let as_geojson = match query.format.as_deref() {
        None | Some("json") => false,
        Some("geojson") => true,
        Some(other) => {
            return Err(RequestError::InvalidRequest(format!(
                "format must be json or geojson; got {other:?}"
            ))
            .into());
        }
    };
    let input = query.q.unwrap_or_default();
    let text = checked_address("q", Some(&input))?;
    let result = state.geocoder.geocode(text, out_crs);
    if !as_geojson {
        return Ok(Json(GeocodeResponse {
            input,
            result,
            crs: out_crs,
        })
        .into_response());
    }
    let mut response = Json(feature_collection(&input, result.as_ref(), out_crs)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    Ok(response)
}

/// A FeatureCollection with the answer as a Point feature (none when there is no
/// answer or it has no point); coordinates in `crs`.
fn feature_collection(input: &str, result: Option<&Geocoded>, crs: Crs) -> Value {
    let features: Vec<Value> = result
        .and_then(|result| {
            let (lon, lat) = (result.lon?, result.lat?);
            let mut properties = serde_json::to_value(result).ok()?;
            if let Some(object) = properties.as_object_mut() {
                object.remove("lon");
                object.remove("lat");
            }
            Some(json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": [lon, lat] },
                "properties": properties,
            }))
        })
        .into_iter()
        .collect();
    json!({
        "type": "FeatureCollection",
        "features": features,
        "properties": { "input": input, "crs": crs },
    })
}

/// Reverse-geocode a whole file: CSV with longitude and latitude columns, or JSON
/// lines (`{"lon": …, "lat": …}` or `[lon, lat]`), streamed in and out row by row.
///
/// CSV output is the input plus `division_code,division,code,standard_address,
/// distance_m,level,status`; `status` is `matched` (an address within the radius),
/// `division`, `unmatched` or `error:<code>` (`invalid_coordinates`, `ragged_row`).
/// JSON-lines output is `{"row", "input", "division", "addresses", "record"?}` or
/// `{"row", "error"}` per line.
#[utoipa::path(post, path = "/v1/reverse/batch", tag = "geocoding", params(ReverseBatchQuery),
    request_body(description = "CSV with a header row, or JSON lines",
        content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/jsonl"))),
    responses(
        (status = 200, description = "The input with answers, streamed; same format as the input"),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn reverse_batch(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ReverseBatchQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let (options, response_type) = batch_options(&state, &headers, query.charset.as_deref())?;
    let crs = crs_parameter(query.crs.as_deref())?;
    let out_crs = crs_parameter(query.out_crs.as_deref())?;
    let radius = radius_parameter(query.radius.as_deref())?;
    let limit = checked_limit(query.limit, DEFAULT_BATCH_REVERSE_LIMIT, MAX_REVERSE_LIMIT)?;
    let lon_column = checked_column(query.lon_column, "lon", "lon_column")?;
    let lat_column = checked_column(query.lat_column, "lat", "lat_column")?;
    let geocoder = state.geocoder.clone();
    stream_batch(&state, &headers, body, response_type, move |channels| {
        let rows = ReverseRows::new(
            &geocoder, lon_column, lat_column, crs, out_crs, radius, limit,
        );
        channels.run(rows, options, "reverse")
    })
    .await
}

/// Geocode a whole file: CSV with an address column, or JSON lines, streamed.
///
/// CSV output is the input plus `code,standard_address,level,confidence,lon,lat,
/// status`; JSON-lines output is `{"row", "input", "result", "record"?}` or
/// `{"row", "error"}` per line.
#[utoipa::path(post, path = "/v1/geocode/batch", tag = "geocoding", params(GeocodeBatchQuery),
    request_body(description = "CSV with a header row, or JSON lines",
        content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/jsonl"))),
    responses(
        (status = 200, description = "The input with answers, streamed; same format as the input"),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn geocode_batch(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<GeocodeBatchQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let (options, response_type) = batch_options(&state, &headers, query.charset.as_deref())?;
    let out_crs = crs_parameter(query.out_crs.as_deref())?;
    let column = checked_column(query.column, DEFAULT_ADDRESS_COLUMN, "column")?;
    let geocoder = state.geocoder.clone();
    stream_batch(&state, &headers, body, response_type, move |channels| {
        channels.run(
            GeocodeRows::new(&geocoder, column, out_crs),
            options,
            "geocode",
        )
    })
    .await
}
