//! Finding the virtual key a request carries (`x-bf-vk`, or `sk-bf-…` in an auth header).

use super::*;

/// The virtual key a request carries, if any (header name, value).
/// The headers a virtual key may come in (parsed once, not per lookup).
static X_BF_VK: HeaderName = HeaderName::from_static("x-bf-vk");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// The virtual key a request carries, if any.
pub(super) fn find_vk(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(&X_BF_VK).and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    [&http::header::AUTHORIZATION, &X_API_KEY, &X_GOOG_API_KEY]
        .into_iter()
        .find_map(|name| vk_in(headers.get(name)))
}

/// `sk-bf-…` when the header holds one (bare or after `Bearer `).
fn vk_in(v: Option<&HeaderValue>) -> Option<&str> {
    let v = v?.to_str().ok()?.trim();
    let v = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v)
        .trim();
    v.starts_with(VK_PREFIX).then_some(v)
}

/// Removes every header that carries a virtual key.
pub(super) fn strip_vks(headers: &mut HeaderMap) {
    headers.remove(&X_BF_VK);
    for name in [&http::header::AUTHORIZATION, &X_API_KEY, &X_GOOG_API_KEY] {
        if vk_in(headers.get(name)).is_some() {
            headers.remove(name);
        }
    }
}
