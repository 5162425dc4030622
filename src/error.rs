//! The one error table of the service: every failure a caller can see has a stable
//! string code and an HTTP status, and every module's error enum folds into [`Error`].
//!
//! Clients branch on `code`, never on `message`, so codes are part of the public
//! contract: add new ones, never rename or reuse old ones.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::auth::AuthError;
use crate::batch::BatchError;
use crate::domain::address::ComponentError;
use crate::domain::code::AddressCodeError;
use crate::domain::division::DivisionCodeError;
use crate::doorplate::DoorplateError;
use crate::geo::{GeoError, UnknownCrs};
use crate::inspection::BoundaryError;
use crate::inspection::service::InspectionError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// Stable error codes with their HTTP status. The table is the documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidJson,
    InvalidDivisionCode,
    InvalidAddressCode,
    InvalidAddress,
    InvalidCoordinates,
    UnknownCrs,
    RadiusOutOfRange,
    InvalidCursor,
    PageSizeTooLarge,
    MissingApiKey,
    InvalidApiKey,
    InsufficientRole,
    DivisionNotFound,
    AddressNotFound,
    RouteNotFound,
    MethodNotAllowed,
    DuplicateAddress,
    DuplicateSourceId,
    VersionConflict,
    AddressRetired,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnknownDivision,
    DivisionRetired,
    InvalidSuccessor,
    UnknownAddress,
    DoorplateNotFound,
    BoundaryNotFound,
    DoorplateNotCurrent,
    InvalidDoorplateToken,
    DoorplateReplaced,
    DoorplateRevoked,
    RateLimited,
    MarkerNotFound,
    InspectionNotFound,
    ReportNotFound,
    InvalidCsv,
    InvalidGeojson,
    InvalidRows,
    StoreUnavailable,
    TextTooLong,
    BatchTooLarge,
    Overloaded,
    RequestTimeout,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidRequest | InvalidJson | InvalidDivisionCode | InvalidAddressCode
            | InvalidAddress | InvalidCoordinates | UnknownCrs | RadiusOutOfRange
            | InvalidCursor | PageSizeTooLarge | InvalidCsv | InvalidGeojson | TextTooLong => {
                StatusCode::BAD_REQUEST
            }
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            MissingApiKey | InvalidApiKey => StatusCode::UNAUTHORIZED,
            InsufficientRole => StatusCode::FORBIDDEN,
            DivisionNotFound
            | AddressNotFound
            | RouteNotFound
            | DoorplateNotFound
            | InvalidDoorplateToken
            | BoundaryNotFound
            | MarkerNotFound
            | InspectionNotFound
            | ReportNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            DuplicateAddress | DuplicateSourceId | VersionConflict | AddressRetired
            | DoorplateNotCurrent => StatusCode::CONFLICT,
            DoorplateReplaced | DoorplateRevoked => StatusCode::GONE,
            RateLimited | Overloaded => StatusCode::TOO_MANY_REQUESTS,
            PayloadTooLarge | BatchTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UnknownDivision | DivisionRetired | InvalidSuccessor | UnknownAddress | InvalidRows => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidJson => "invalid_json",
            InvalidDivisionCode => "invalid_division_code",
            InvalidAddressCode => "invalid_address_code",
            InvalidAddress => "invalid_address",
            InvalidCoordinates => "invalid_coordinates",
            UnknownCrs => "unknown_crs",
            RadiusOutOfRange => "radius_out_of_range",
            InvalidCursor => "invalid_cursor",
            PageSizeTooLarge => "page_size_too_large",
            MissingApiKey => "missing_api_key",
            InvalidApiKey => "invalid_api_key",
            InsufficientRole => "insufficient_role",
            DivisionNotFound => "division_not_found",
            AddressNotFound => "address_not_found",
            RouteNotFound => "route_not_found",
            MethodNotAllowed => "method_not_allowed",
            DuplicateAddress => "duplicate_address",
            DuplicateSourceId => "duplicate_source_id",
            VersionConflict => "version_conflict",
            AddressRetired => "address_retired",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            UnknownDivision => "unknown_division",
            DivisionRetired => "division_retired",
            InvalidSuccessor => "invalid_successor",
            UnknownAddress => "unknown_address",
            DoorplateNotFound => "doorplate_not_found",
            BoundaryNotFound => "boundary_not_found",
            DoorplateNotCurrent => "doorplate_not_current",
            InvalidDoorplateToken => "invalid_doorplate_token",
            DoorplateReplaced => "doorplate_replaced",
            DoorplateRevoked => "doorplate_revoked",
            RateLimited => "rate_limited",
            MarkerNotFound => "marker_not_found",
            InspectionNotFound => "inspection_not_found",
            ReportNotFound => "report_not_found",
            InvalidCsv => "invalid_csv",
            InvalidGeojson => "invalid_geojson",
            InvalidRows => "invalid_rows",
            StoreUnavailable => "store_unavailable",
            TextTooLong => "text_too_long",
            BatchTooLarge => "batch_too_large",
            Overloaded => "overloaded",
            RequestTimeout => "request_timeout",
            Internal => "internal",
        }
    }
}

/// Errors that come from the shape of an HTTP request rather than from an engine.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than this endpoint accepts")]
    PayloadTooLarge,
    #[error("the cursor is not one this service issued")]
    InvalidCursor,
    #[error("limit {requested} is larger than the maximum page size {maximum}")]
    PageSizeTooLarge { requested: u32, maximum: u32 },
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{field} has {chars} characters; at most {maximum} are accepted")]
    TextTooLong {
        field: String,
        chars: usize,
        maximum: usize,
    },
    #[error("too many requests from this {scope}; retry in {retry_after_seconds} s")]
    RateLimited {
        scope: &'static str,
        retry_after_seconds: u64,
    },
    #[error("the service is at its limit of {limit} {what} running at once; retry shortly")]
    Overloaded { limit: usize, what: &'static str },
    #[error("the request took longer than {seconds} s and was stopped")]
    RequestTimeout { seconds: u64 },
}

/// The top-level error. Module errors fold in with `?`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    DivisionCode(#[from] DivisionCodeError),
    #[error(transparent)]
    AddressCode(#[from] AddressCodeError),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error(transparent)]
    Doorplate(#[from] DoorplateError),
    #[error(transparent)]
    Inspection(#[from] InspectionError),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::DivisionCode(_) => ErrorCode::InvalidDivisionCode,
            Error::AddressCode(_) => ErrorCode::InvalidAddressCode,
            Error::Component(error) => match error {
                ComponentError::Coordinates(_) => ErrorCode::InvalidCoordinates,
                _ => ErrorCode::InvalidAddress,
            },
            Error::Registry(error) => registry_error_code(error),
            Error::Store(error) => store_error_code(error),
            Error::Auth(error) => match error {
                AuthError::MissingKey => ErrorCode::MissingApiKey,
                AuthError::InvalidKey => ErrorCode::InvalidApiKey,
                AuthError::InsufficientRole { .. } => ErrorCode::InsufficientRole,
            },
            Error::Request(error) => match error {
                RequestError::InvalidRequest(_) => ErrorCode::InvalidRequest,
                RequestError::InvalidJson(_) => ErrorCode::InvalidJson,
                RequestError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
                RequestError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
                RequestError::InvalidCursor => ErrorCode::InvalidCursor,
                RequestError::PageSizeTooLarge { .. } => ErrorCode::PageSizeTooLarge,
                RequestError::RouteNotFound(_) => ErrorCode::RouteNotFound,
                RequestError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
                RequestError::TextTooLong { .. } => ErrorCode::TextTooLong,
                RequestError::RateLimited { .. } => ErrorCode::RateLimited,
                RequestError::Overloaded { .. } => ErrorCode::Overloaded,
                RequestError::RequestTimeout { .. } => ErrorCode::RequestTimeout,
            },
            Error::Batch(error) => match error {
                // Reading fails when the upload breaks off: the request is incomplete.
                BatchError::MissingHeader
                | BatchError::MissingColumn { .. }
                | BatchError::Read(_) => ErrorCode::InvalidRequest,
                BatchError::TooManyRows { .. } => ErrorCode::BatchTooLarge,
                BatchError::Write(_) => ErrorCode::Internal,
            },
            Error::Geo(error) => match error {
                GeoError::UnknownCrs(_) => ErrorCode::UnknownCrs,
                GeoError::RadiusOutOfRange { .. } => ErrorCode::RadiusOutOfRange,
                GeoError::InvalidLongitude(_)
                | GeoError::InvalidLatitude(_)
                | GeoError::MissingCoordinate(_) => ErrorCode::InvalidCoordinates,
            },
            Error::Doorplate(error) => match error {
                DoorplateError::AddressCode(_) => ErrorCode::InvalidAddressCode,
                DoorplateError::UnknownAddress { .. } => ErrorCode::UnknownAddress,
                DoorplateError::AddressRetired { .. } => ErrorCode::AddressRetired,
                DoorplateError::BatchSize { .. } | DoorplateError::InvalidRequest(_) => {
                    ErrorCode::InvalidRequest
                }
                DoorplateError::InvalidToken => ErrorCode::InvalidDoorplateToken,
                DoorplateError::RateLimited { .. } => ErrorCode::RateLimited,
                DoorplateError::Store(error) => store_error_code(error),
                DoorplateError::Render(_) => ErrorCode::Internal,
            },
            Error::Inspection(error) => match error {
                InspectionError::LineNotFound(_) => ErrorCode::BoundaryNotFound,
                InspectionError::MarkerNotFound { .. } => ErrorCode::MarkerNotFound,
                InspectionError::RoundNotFound(_) => ErrorCode::InspectionNotFound,
                InspectionError::ReportNotFound(_) => ErrorCode::ReportNotFound,
                InspectionError::Invalid(_) => ErrorCode::InvalidRequest,
                InspectionError::ReportFailed(_) => ErrorCode::Internal,
                InspectionError::File(BoundaryError::Csv(_)) => ErrorCode::InvalidCsv,
                InspectionError::File(BoundaryError::Rows(_)) => ErrorCode::InvalidRows,
                InspectionError::File(_) => ErrorCode::InvalidGeojson,
                InspectionError::Store(error) => store_error_code(error),
            },
        }
    }

    /// Machine-readable context that helps a caller act on the error.
    pub fn details(&self) -> Option<Value> {
        match self {
            Error::Registry(RegistryError::Store(error))
            | Error::Store(error)
            | Error::Doorplate(DoorplateError::Store(error))
            | Error::Inspection(InspectionError::Store(error)) => store_error_details(error),
            Error::Inspection(InspectionError::File(BoundaryError::Rows(rows))) => {
                Some(serde_json::json!({ "rows": rows }))
            }
            Error::Doorplate(DoorplateError::AddressCode(error)) => error.details(),
            Error::Doorplate(DoorplateError::AddressRetired { successor_code, .. }) => {
                Some(serde_json::json!({ "successor_code": successor_code }))
            }
            Error::Doorplate(DoorplateError::BatchSize { maximum, .. }) => {
                Some(serde_json::json!({ "maximum": maximum }))
            }
            Error::Doorplate(DoorplateError::RateLimited {
                retry_after_seconds,
            }) => Some(serde_json::json!({ "retry_after_seconds": retry_after_seconds })),
            Error::Registry(error) => error.details(),
            Error::Auth(AuthError::InsufficientRole { required, actual }) => {
                Some(serde_json::json!({ "required": required, "actual": actual }))
            }
            Error::Geo(GeoError::UnknownCrs(UnknownCrs { given })) => Some(serde_json::json!({
                "given": given,
                "supported": crate::geo::Crs::ALL.map(crate::geo::Crs::as_str),
            })),
            Error::Geo(GeoError::RadiusOutOfRange { min, max, .. }) => {
                Some(serde_json::json!({ "min": min, "max": max }))
            }
            Error::Request(RequestError::PageSizeTooLarge { maximum, .. }) => {
                Some(serde_json::json!({ "maximum": maximum }))
            }
            Error::Request(RequestError::TextTooLong { maximum, .. }) => {
                Some(serde_json::json!({ "maximum": maximum }))
            }
            Error::Request(RequestError::RateLimited {
                scope,
                retry_after_seconds,
            }) => Some(serde_json::json!({
                "scope": scope,
                "retry_after_seconds": retry_after_seconds,
            })),
            Error::Request(RequestError::Overloaded { .. }) => {
                Some(serde_json::json!({ "retry_after_seconds": 1 }))
            }
            Error::Batch(BatchError::TooManyRows { maximum }) => {
                Some(serde_json::json!({ "maximum": maximum }))
            }
            Error::AddressCode(error) => error.details(),
            Error::Batch(BatchError::MissingColumn { column, header }) => {
                Some(serde_json::json!({ "column": column, "header": header }))
            }
            _ => None,
        }
    }
}

fn store_error_details(error: &StoreError) -> Option<Value> {
    match error {
        StoreError::DuplicateAddress { existing_code } => {
            Some(serde_json::json!({ "existing_code": existing_code }))
        }
        StoreError::DuplicateSourceId {
            source_id,
            existing_code,
        } => Some(serde_json::json!({ "source_id": source_id, "existing_code": existing_code })),
        StoreError::VersionConflict {
            expected, found, ..
        } => Some(serde_json::json!({ "expected_version": expected, "current_version": found })),
        StoreError::DoorplateNotCurrent {
            status,
            replaced_by,
            ..
        } => Some(serde_json::json!({ "status": status, "replaced_by": replaced_by })),
        _ => None,
    }
}

fn registry_error_code(error: &RegistryError) -> ErrorCode {
    match error {
        RegistryError::UnknownDivision { .. } => ErrorCode::UnknownDivision,
        RegistryError::DivisionRetired { .. } => ErrorCode::DivisionRetired,
        RegistryError::AddressNotFound { .. } => ErrorCode::AddressNotFound,
        RegistryError::DivisionNotFound { .. } => ErrorCode::DivisionNotFound,
        RegistryError::AlreadyRetired { .. } => ErrorCode::AddressRetired,
        RegistryError::InvalidSuccessor { .. } => ErrorCode::InvalidSuccessor,
        RegistryError::EmptyAddress | RegistryError::InvalidField { .. } => {
            ErrorCode::InvalidAddress
        }
        RegistryError::Component(ComponentError::Coordinates(_)) => ErrorCode::InvalidCoordinates,
        RegistryError::Component(_) => ErrorCode::InvalidAddress,
        RegistryError::DivisionCode(_) => ErrorCode::InvalidDivisionCode,
        RegistryError::Store(error) => store_error_code(error),
    }
}

fn store_error_code(error: &StoreError) -> ErrorCode {
    match error {
        StoreError::DuplicateAddress { .. } => ErrorCode::DuplicateAddress,
        StoreError::DuplicateSourceId { .. } => ErrorCode::DuplicateSourceId,
        StoreError::VersionConflict { .. } => ErrorCode::VersionConflict,
        StoreError::AddressNotFound { .. } => ErrorCode::AddressNotFound,
        StoreError::DoorplateNotFound { .. } => ErrorCode::DoorplateNotFound,
        StoreError::DoorplateNotCurrent { .. } => ErrorCode::DoorplateNotCurrent,
        StoreError::Unavailable(_) => ErrorCode::StoreUnavailable,
        StoreError::UnsupportedUrl(_)
        | StoreError::Database(_)
        | StoreError::Migration(_)
        | StoreError::CorruptRow(_) => ErrorCode::Internal,
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `duplicate_address`.
    pub code: &'static str,
    /// Human-readable explanation; wording may change between releases.
    pub message: String,
    /// Structured context, e.g. the existing code on a duplicate.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let message = if code == ErrorCode::Internal {
            // Internal details (SQL, paths) stay in the log, not in the response.
            tracing::error!(error = %self, "internal error");
            "internal error; the event has been logged".to_owned()
        } else {
            self.to_string()
        };
        let details = self.details();
        // Clients and proxies read the wait from the header; the body repeats it.
        let retry_after = details
            .as_ref()
            .and_then(|details| details.get("retry_after_seconds"))
            .and_then(Value::as_u64);
        let body = ErrorBody {
            code: code.as_str(),
            message,
            details,
        };
        let mut response = (code.http_status(), axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_error_code_maps_to_a_4xx_status() {
        use ErrorCode::*;
        for code in [
            InvalidRequest,
            InvalidJson,
            InvalidDivisionCode,
            InvalidAddressCode,
            InvalidAddress,
            InvalidCoordinates,
            InvalidCursor,
            PageSizeTooLarge,
            MissingApiKey,
            InvalidApiKey,
            InsufficientRole,
            DivisionNotFound,
            AddressNotFound,
            RouteNotFound,
            MethodNotAllowed,
            DuplicateAddress,
            DuplicateSourceId,
            VersionConflict,
            AddressRetired,
            PayloadTooLarge,
            UnsupportedMediaType,
            UnknownDivision,
            DivisionRetired,
            InvalidSuccessor,
            UnknownAddress,
            DoorplateNotFound,
            BoundaryNotFound,
            DoorplateNotCurrent,
            InvalidDoorplateToken,
            DoorplateReplaced,
            DoorplateRevoked,
            RateLimited,
            TextTooLong,
            BatchTooLarge,
            Overloaded,
            RequestTimeout,
        ] {
            assert!(code.http_status().is_client_error(), "{code:?}");
            let serialized = serde_json::to_value(code).unwrap();
            assert_eq!(serialized, code.as_str(), "serde name and table name agree");
        }
    }
}
