//! STUB
use crate::error::BifrostError;
pub struct AwsCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}
pub fn model_path(id: &str, action: &str) -> String {
    format!("/model/{id}/{action}")
}
#[allow(clippy::too_many_arguments)]
pub fn sign(
    _m: &str,
    _u: &http::Uri,
    _h: &mut http::HeaderMap,
    _b: &[u8],
    _c: &AwsCredentials,
    _r: &str,
    _s: &str,
    _t: std::time::SystemTime,
) -> Result<(), BifrostError> {
    Ok(())
}
