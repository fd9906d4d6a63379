//! `multipart/form-data` bodies for forwarded uploads (transcriptions). Parsing happens in the
//! server with `multer`; re-encoding is this small writer, so the model field can be replaced.

use crate::schemas::FormPart;

/// Quotes a header parameter (RFC 7578 §4.2 leaves escaping to HTML's rules: `"` and line
/// breaks are percent-encoded).
fn quoted(v: &str) -> String {
    v.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Encodes `parts` with `model` as the value of the `model` field. Returns the content type
/// (with its boundary) and the body.
pub fn encode(parts: &[FormPart], model: &str) -> (String, Vec<u8>) {
    let boundary = format!(
        "bifrost-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    );
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.data.len() + 128).sum::<usize>() + 64);
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            quoted(&p.name)
        );
        if let Some(f) = &p.filename {
            disposition.push_str(&format!("; filename=\"{}\"", quoted(f)));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if p.name == "model" && p.filename.is_none() {
            out.extend_from_slice(model.as_bytes());
        } else {
            out.extend_from_slice(&p.data);
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_and_files_and_replaces_the_model() {
        let parts = vec![
            FormPart {
                name: "model".into(),
                filename: None,
                content_type: None,
                data: "openai/whisper-1".into(),
            },
            FormPart {
                name: "file".into(),
                filename: Some("a\"b.wav".into()),
                content_type: Some("audio/wav".into()),
                data: bytes::Bytes::from_static(b"RIFF\x00\x01"),
            },
        ];
        let (ct, body) = encode(&parts, "whisper-1");
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"));
        assert!(text.contains("filename=\"a%22b.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
