//! Editing a JSON body without re-serializing it, and the upstream bodies made that way.

use super::*;

/// One edit of a JSON object's top-level field.
#[derive(Debug, Clone, Copy)]
pub enum FieldEdit<'a> {
    /// Replaces the field's value in place (every occurrence, should the client have sent it
    /// twice), or appends the field when absent. The value is raw JSON.
    Set(&'a str, &'a str),
    /// Drops the field.
    Remove(&'a str),
    /// Applies the edits inside the object at the field, keeping its other fields; a missing,
    /// `null` or non-object value becomes an object of the edits alone.
    Merge(&'a str, &'a [FieldEdit<'a>]),
}

impl<'a> FieldEdit<'a> {
    fn key(&self) -> &'a str {
        match *self {
            FieldEdit::Set(k, _) | FieldEdit::Remove(k) | FieldEdit::Merge(k, _) => k,
        }
    }
}

/// A key as written, borrowed unless it contained escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// An object's fields in order, each value as its raw bytes.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    fields.push((k, v));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// Applies `edits` to the top-level fields of a JSON object. Every other field keeps its
/// position and the exact bytes of its value (number spellings, escapes, nested key order);
/// only the whitespace between top-level tokens goes. A key is re-encoded only if it was
/// written with escapes. Anything but an object is the client's error.
pub fn edit_object(body: &[u8], edits: &[FieldEdit<'_>]) -> Result<Vec<u8>, BifrostError> {
    let Fields(fields) = serde_json::from_slice(body).map_err(|e| {
        BifrostError::invalid_request(format!("the request body must be a JSON object: {e}"))
    })?;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    let mut applied = vec![false; edits.len()];
    for (key, value) in &fields {
        let edit = edits.iter().position(|e| e.key() == key);
        let replaced = match edit.map(|i| (i, edits[i])) {
            Some((_, FieldEdit::Remove(_))) => continue,
            Some((i, FieldEdit::Set(_, raw))) => {
                applied[i] = true;
                Cow::Borrowed(raw.as_bytes())
            }
            Some((i, FieldEdit::Merge(_, inner))) => {
                applied[i] = true;
                Cow::Owned(merged(value.get(), inner)?)
            }
            None => Cow::Borrowed(value.get().as_bytes()),
        };
        push_field(&mut out, key, &replaced)?;
    }
    for (edit, done) in edits.iter().zip(applied) {
        match *edit {
            _ if done => {}
            FieldEdit::Remove(_) => {}
            FieldEdit::Set(key, raw) => push_field(&mut out, key, raw.as_bytes())?,
            FieldEdit::Merge(key, inner) => push_field(&mut out, key, &merged("null", inner)?)?,
        }
    }
    out.push(b'}');
    Ok(out)
}

fn merged(value: &str, edits: &[FieldEdit<'_>]) -> Result<Vec<u8>, BifrostError> {
    if value.trim_start().starts_with('{') {
        edit_object(value.as_bytes(), edits)
    } else {
        edit_object(b"{}", edits)
    }
}

fn push_field(out: &mut Vec<u8>, key: &str, value: &[u8]) -> Result<(), BifrostError> {
    if out.len() > 1 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, key)
        .map_err(|e| BifrostError::internal(format!("writing a JSON key failed: {e}")))?;
    out.push(b':');
    out.extend_from_slice(value);
    Ok(())
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> Result<String, BifrostError> {
    serde_json::to_string(s)
        .map_err(|e| BifrostError::internal(format!("writing a JSON string failed: {e}")))
}

/// The upstream body of an OpenAI chat request: the upstream model, no gateway fields, and for
/// a stream `stream_options.include_usage` (accounting needs the usage chunk; the relay drops
/// it again if the client did not ask for it).
pub fn openai_chat_body(body: &[u8], model: &str, stream: bool) -> Result<Vec<u8>, BifrostError> {
    let model = json_string(model)?;
    const INCLUDE_USAGE: &[FieldEdit<'_>] = &[FieldEdit::Set("include_usage", "true")];
    let mut edits = vec![FieldEdit::Set("model", &model)];
    edits.extend(GATEWAY_FIELDS.iter().map(|&f| FieldEdit::Remove(f)));
    if stream {
        edits.push(FieldEdit::Merge("stream_options", INCLUDE_USAGE));
    }
    edit_object(body, &edits)
}

/// The upstream body of an Anthropic Messages or OpenAI Responses request: the upstream model
/// and no gateway fields.
pub fn model_body(body: &[u8], model: &str) -> Result<Vec<u8>, BifrostError> {
    let model = json_string(model)?;
    let mut edits = vec![FieldEdit::Set("model", &model)];
    edits.extend(GATEWAY_FIELDS.iter().map(|&f| FieldEdit::Remove(f)));
    edit_object(body, &edits)
}
