//! The GenAI embedding routes (`:embedContent`, `:batchEmbedContents`) ⇄ the unified embedding request and answer.

use super::*;
use crate::wire::gemini::{
    BatchEmbedContentsRequest, ContentEmbedding, EmbedContentRequest, EmbedContentResponse,
};

/// Translates an `embedContent` body for `model` (from the URL) into an embeddings request of
/// one input: the content's text parts joined with `\n` (Google embeds one content as one
/// vector). `outputDimensionality` → `dimensions`; `taskType` and `title` are dropped
/// (OpenAI-style embedding APIs have neither). A content without text, or with any other part
/// kind (Google's multimodal embeddings), is a 400.
pub fn to_embedding(model: &str, body: &[u8]) -> Result<EmbeddingRequest, BifrostError> {
    let body: EmbedContentRequest = serde_json::from_slice(body).map_err(bad_embed_body)?;
    let text = embed_text(body.content.as_ref(), "content")?;
    Ok(EmbeddingRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Text(text),
        dimensions: body.output_dimensionality,
        ..EmbeddingRequest::default()
    })
}

/// Translates a `batchEmbedContents` body (`{"requests":[EmbedContentRequest…]}`) into one
/// embeddings request whose inputs are the requests' contents, in order (see
/// [`to_embedding`]). As at Google, each request's `model` (`models/…`, or absent) must be the
/// URL's; their `outputDimensionality` must agree, since one upstream call serves them all.
pub fn to_batch_embedding(model: &str, body: &[u8]) -> Result<EmbeddingRequest, BifrostError> {
    let body: BatchEmbedContentsRequest = serde_json::from_slice(body).map_err(bad_embed_body)?;
    if body.requests.is_empty() {
        return Err(BifrostError::invalid_request(
            "batchEmbedContents needs at least one request",
        ));
    }
    let mut texts = Vec::with_capacity(body.requests.len());
    let dimensions = body.requests[0].output_dimensionality;
    for (i, r) in body.requests.iter().enumerate() {
        if let Some(m) = r.model.as_deref() {
            let m = m.strip_prefix("models/").unwrap_or(m);
            if m != model {
                return Err(BifrostError::invalid_request(format!(
                    "requests[{i}].model is '{m}', but the batch is for '{model}'"
                )));
            }
        }
        if r.output_dimensionality != dimensions {
            return Err(BifrostError::invalid_request(format!(
                "requests[{i}].outputDimensionality differs from requests[0]'s; one batch \
                 has one size"
            )));
        }
        texts.push(embed_text(
            r.content.as_ref(),
            &format!("requests[{i}].content"),
        )?);
    }
    Ok(EmbeddingRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Texts(texts),
        dimensions,
        ..EmbeddingRequest::default()
    })
}

fn bad_embed_body(e: serde_json::Error) -> BifrostError {
    BifrostError::invalid_request(format!("invalid embedding request body: {e}"))
}

/// The text of one content to embed; `at` names it in errors.
fn embed_text(content: Option<&Content>, at: &str) -> Result<String, BifrostError> {
    let parts = content.map(|c| c.parts.as_slice()).unwrap_or_default();
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        match &part.text {
            Some(t) => texts.push(t.as_str()),
            None => {
                return Err(BifrostError::invalid_request(format!(
                    "{at}.parts[{j}]: only text can be embedded here"
                )))
            }
        }
    }
    if texts.is_empty() {
        return Err(BifrostError::invalid_request(format!(
            "{at} has no text to embed"
        )));
    }
    Ok(texts.join("\n"))
}

/// An embeddings answer of one input → an `EmbedContentResponse`:
/// `{"embedding":{"values":[…]}}`.
pub fn from_embedding(resp: &EmbeddingResponse) -> EmbedContentResponse<Value> {
    let values = embeddings_in_order(resp).next().unwrap_or_default();
    EmbedContentResponse {
        embedding: Some(values),
        ..EmbedContentResponse::default()
    }
}

/// An embeddings answer → a `BatchEmbedContentsResponse`: `{"embeddings":[{"values":[…]}…]}`,
/// in input order.
pub fn from_batch_embedding(resp: &EmbeddingResponse) -> EmbedContentResponse<Value> {
    EmbedContentResponse {
        embeddings: Some(embeddings_in_order(resp).collect()),
        ..EmbedContentResponse::default()
    }
}

/// The vectors by their `index` (upstreams may answer out of order), as they came.
fn embeddings_in_order(
    resp: &EmbeddingResponse,
) -> impl Iterator<Item = ContentEmbedding<Value>> + '_ {
    let mut data: Vec<_> = resp.data.iter().collect();
    data.sort_by_key(|e| e.index);
    data.into_iter().map(|e| ContentEmbedding {
        values: e.embedding.clone(),
    })
}
