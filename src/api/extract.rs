//! Extractors whose rejections speak the service's error table instead of axum's
//! plain-text defaults.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, RequestError};

/// A JSON body.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Error {
    let error = match &rejection {
        JsonRejection::MissingJsonContentType(_) => RequestError::UnsupportedMediaType(
            "send the body as Content-Type: application/json".into(),
        ),
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            RequestError::PayloadTooLarge
        }
        _ => RequestError::InvalidJson(rejection.body_text()),
    };
    error.into()
}

/// Query-string parameters.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| QueryParams(value))
            .map_err(|rejection: QueryRejection| {
                RequestError::InvalidRequest(rejection.body_text()).into()
            })
    }
}

/// Path parameters.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|rejection: PathRejection| {
                RequestError::InvalidRequest(rejection.body_text()).into()
            })
    }
}

/// The caller, who must hold a key with the editor role (or admin). As an extractor it
/// runs before the body is read, so an unauthenticated request is a 401 whatever its
/// body holds.
pub struct EditorKey(pub crate::store::Actor);

impl<S: Send + Sync> FromRequestParts<S> for EditorKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let key_id = principal(parts).require(&[crate::store::Role::Editor])?;
        Ok(EditorKey(crate::store::Actor::api_key(key_id)))
    }
}

/// The caller, who must hold a key with the surveyor role (or admin).
pub struct SurveyorKey(pub crate::store::Actor);

impl<S: Send + Sync> FromRequestParts<S> for SurveyorKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let key_id = principal(parts).require(&[crate::store::Role::Surveyor])?;
        Ok(SurveyorKey(crate::store::Actor::api_key(key_id)))
    }
}

/// A whole text body (a CSV or GeoJSON file), UTF-8 or GBK, held in memory: these
/// files are read whole to be checked row by row before anything is written.
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => RequestError::PayloadTooLarge,
                _ => RequestError::InvalidRequest(rejection.body_text()),
            })?;
        if bytes.is_empty() {
            return Err(RequestError::InvalidRequest("the request body is empty".into()).into());
        }
        Ok(TextBody(crate::batch::Charset::decode_detected(&bytes)))
    }
}

/// The caller, who must hold an admin key.
pub struct AdminKey;

impl<S: Send + Sync> FromRequestParts<S> for AdminKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        principal(parts).require(&[crate::store::Role::Admin])?;
        Ok(AdminKey)
    }
}

fn principal(parts: &Parts) -> &crate::auth::Principal {
    // The authentication middleware inserts a principal into every request it passes.
    parts
        .extensions
        .get::<crate::auth::Principal>()
        .unwrap_or(&crate::auth::Principal::Anonymous)
}

/// A `limit` parameter: `default` when absent, otherwise 1 to `maximum`.
pub(crate) fn checked_limit(
    limit: Option<usize>,
    default: usize,
    maximum: usize,
) -> Result<usize, Error> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=maximum).contains(&limit) => Ok(limit),
        Some(limit) => Err(RequestError::InvalidRequest(format!(
            "limit must be between 1 and {maximum}; got {limit}"
        ))
        .into()),
    }
}

/// A batch column (or JSON field) name parameter: `default` when absent, never blank.
pub(crate) fn checked_column(
    value: Option<String>,
    default: &str,
    name: &str,
) -> Result<String, Error> {
    let column = value.unwrap_or_else(|| default.to_owned());
    if column.trim().is_empty() {
        return Err(RequestError::InvalidRequest(format!("{name} must not be empty")).into());
    }
    Ok(column)
}

/// A `division` filter parameter: the significant digits of the code (`3302` for
/// 宁波市), so a prefix comparison selects the division and everything under it.
pub(crate) fn division_prefix_parameter(value: Option<&str>) -> Result<Option<String>, Error> {
    value
        .map(|text| {
            let code = crate::domain::division::DivisionCode::parse(text)?;
            let digits = code.implied_level().significant_digits();
            Ok(code.as_str()[..digits].to_owned())
        })
        .transpose()
}

/// A query text checked against its maximum length in characters.
pub(crate) fn check_text_length(
    field: &str,
    text: &str,
    maximum: usize,
) -> Result<(), RequestError> {
    let chars = text.chars().count();
    if chars > maximum {
        return Err(RequestError::TextTooLong {
            field: field.to_owned(),
            chars,
            maximum,
        });
    }
    Ok(())
}
