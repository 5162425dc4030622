//! `/v1/codes/{code}/validate`: check an address code without looking it up.

use axum::Json;
use serde::Serialize;

use super::extract::PathParams;
use crate::domain::code::{ValidatedAddressCode, validate_address_code};
use crate::error::Error;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeValidation {
    pub valid: bool,
    /// The parts of a valid code.
    pub parts: Option<ValidatedAddressCode>,
    /// Why the code is not valid: a stable code and a message.
    pub error: Option<CodeProblem>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeProblem {
    pub code: &'static str,
    pub message: String,
}

/// Checks length, digits and the ISO 7064 MOD 11-2 check character. An invalid code
/// is a normal answer (200, `valid: false`), not an error.
#[utoipa::path(get, path = "/v1/codes/{code}/validate", tag = "addresses",
    params(("code" = String, Path, description = "Code to check")),
    responses((status = 200, body = CodeValidation)))]
pub async fn validate_code(PathParams(code): PathParams<String>) -> Json<CodeValidation> {
    Json(match validate_address_code(&code) {
        Ok(parts) => CodeValidation {
            valid: true,
            parts: Some(parts),
            error: None,
        },
        Err(problem) => {
            let error = Error::from(problem);
            CodeValidation {
                valid: false,
                parts: None,
                error: Some(CodeProblem {
                    code: error.code().as_str(),
                    message: error.to_string(),
                }),
            }
        }
    })
}
