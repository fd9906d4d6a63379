//! The request's input items, content parts, tools and tool choice → their chat forms, by the
//! rules of the module doc. They are read as the types of `wire::responses`: serde rejects
//! wrong JSON types (with the path of the field); this translation rejects what the types
//! admit but the gateway cannot translate.

use crate::error::BifrostError;
use crate::inbound::signed_id;
use crate::schemas::{
    ChatMessage, ContentPart, Extra, FunctionDef, ImageUrl, MessageContent, Tool, ToolCall,
};
use crate::wire::responses::{
    self as wire, Content, FunctionOutput, InputContent, InputItem, ResponsesRequest, Role,
    ToolChoice,
};
use crate::wire::{error_path, missing_field};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// The body as a [`ResponsesRequest`]; an error names the bad field.
pub(super) fn read(body: &[u8]) -> Result<ResponsesRequest, BifrostError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let req = serde_path_to_error::deserialize(&mut de).map_err(|e| bad_field("", &e))?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(req)
}

/// `v`, a part of the body kept as JSON and found at `at`, as a `T`.
fn read_at<T: DeserializeOwned>(at: &str, v: &Value) -> Result<T, BifrostError> {
    serde_path_to_error::deserialize(v).map_err(|e| bad_field(at, &e))
}

/// `<path>: <message>`, or `<path> must …`; serde's "missing field `x`" becomes
/// `<path>.x is required`. Errors of the body as a whole (not JSON, no `model`) keep serde's
/// message with its position.
fn bad_field(at: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> BifrostError {
    let (path, msg) = error_path(e);
    let path = match (at, path.starts_with('[')) {
        ("", _) => path,
        (_, _) if path.is_empty() => at.to_owned(),
        (_, true) => format!("{at}{path}"),
        (_, false) => format!("{at}.{path}"),
    };
    if path.is_empty() || e.inner().is_syntax() || e.inner().is_eof() {
        return not_json(e.inner());
    }
    invalid(match missing_field(&msg) {
        Some(field) => format!("{path}.{field} is required"),
        None if msg.starts_with("must ") => format!("{path} {msg}"),
        None => format!("{path}: {msg}"),
    })
}

fn not_json(e: &serde_json::Error) -> BifrostError {
    invalid(format!("invalid Responses request: {e}"))
}

fn invalid(msg: impl Into<String>) -> BifrostError {
    BifrostError::invalid_request(msg)
}

pub(super) fn push_input_item(
    i: usize,
    item: InputItem,
    out: &mut Vec<ChatMessage>,
) -> Result<(), BifrostError> {
    let at = format!("input[{i}]");
    match item {
        InputItem::Message(msg) => out.push(input_message(&at, msg)?),
        InputItem::FunctionCall(fc) => {
            let (call_id, signature) = signed_id::split(&fc.call_id);
            let mut call =
                ToolCall::function(call_id.to_owned(), fc.name.into(), fc.arguments.into());
            if let Some(sig) = signature {
                ToolCall::set_thought_signature(&mut call.extra, sig);
            }
            // Consecutive calls share one assistant message, as chat has them.
            match out.last_mut() {
                Some(last) if last.role == "assistant" => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => out.push(ChatMessage {
                    role: "assistant".into(),
                    tool_calls: Some(vec![call]),
                    ..ChatMessage::default()
                }),
            }
        }
        InputItem::FunctionCallOutput(fco) => {
            let content = match fco.output {
                FunctionOutput::Text(s) => MessageContent::Text(s),
                FunctionOutput::Parts(parts) => {
                    MessageContent::Parts(input_parts(&format!("{at}.output"), parts)?)
                }
            };
            out.push(ChatMessage {
                role: "tool".into(),
                content: Some(content),
                tool_call_id: Some(signed_id::split(&fco.call_id).0.to_owned()),
                ..ChatMessage::default()
            });
        }
        InputItem::Reasoning(_) => {}
        InputItem::Other(v) => {
            return Err(match v.get("type").and_then(Value::as_str).unwrap_or("") {
                "item_reference" => invalid(format!(
                    "{at}: item_reference is not supported: the gateway keeps no stored items; \
                     send the item itself"
                )),
                other => invalid(format!(
                    "{at}: input items of type '{other}' are not supported: only messages, \
                     function_call, function_call_output and reasoning items translate to chat"
                )),
            })
        }
    }
    Ok(())
}

fn input_message(at: &str, item: wire::InputMessage) -> Result<ChatMessage, BifrostError> {
    let role = match item.role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::System => "system",
        Role::Developer => "developer",
    };
    let mut msg = ChatMessage {
        role: role.into(),
        ..ChatMessage::default()
    };
    match item.content {
        None => {}
        Some(Content::Text(s)) => msg.content = Some(MessageContent::Text(s)),
        // Assistant history: its text joined into one string, a refusal as the message's.
        Some(Content::Parts(parts)) if item.role == Role::Assistant => {
            let mut text = String::new();
            for (j, part) in parts.into_iter().enumerate() {
                match part {
                    InputContent::InputText { text: t } => text.push_str(&t),
                    InputContent::OutputText(t) => text.push_str(&t.text),
                    InputContent::Refusal(r) => {
                        msg.extra
                            .insert("refusal".into(), Value::String(r.refusal.into()));
                    }
                    other => {
                        return Err(invalid(format!(
                            "{at}.content[{j}]: assistant content of type '{}' is not \
                             supported: use output_text or refusal",
                            part_type(&other)
                        )))
                    }
                }
            }
            if !text.is_empty() {
                msg.content = Some(MessageContent::Text(text));
            }
        }
        Some(Content::Parts(parts)) => {
            let at = format!("{at}.content");
            msg.content = Some(MessageContent::Parts(input_parts(&at, parts)?));
        }
    }
    Ok(msg)
}

fn input_parts(at: &str, parts: Vec<InputContent>) -> Result<Vec<ContentPart>, BifrostError> {
    parts
        .into_iter()
        .enumerate()
        .map(|(j, part)| input_part(&format!("{at}[{j}]"), part))
        .collect()
}

fn input_part(at: &str, part: InputContent) -> Result<ContentPart, BifrostError> {
    let mut out = ContentPart::default();
    match part {
        InputContent::InputText { text } => {
            out.kind = "text".into();
            out.text = Some(text);
        }
        InputContent::OutputText(t) => {
            out.kind = "text".into();
            out.text = Some(t.text.into());
        }
        InputContent::InputImage(image) => {
            if image.file_id.is_some() {
                return Err(invalid(format!(
                    "{at}: input_image with file_id is not supported: the gateway has no file \
                     store; send image_url (an https: or data: URL)"
                )));
            }
            let url = image
                .image_url
                .ok_or_else(|| invalid(format!("{at}: input_image needs an image_url")))?;
            out.kind = "image_url".into();
            out.image_url = Some(ImageUrl {
                url,
                detail: image.detail,
            });
        }
        InputContent::InputFile(file) => {
            if file.file_id.is_some() || file.file_url.is_some() {
                return Err(invalid(format!(
                    "{at}: input_file with file_id or file_url is not supported: the gateway has \
                     no file store; send file_data (a base64 data: URL) and filename"
                )));
            }
            let data = file
                .file_data
                .ok_or_else(|| invalid(format!("{at}.file_data must be a string")))?;
            let mut chat_file = json!({ "file_data": data });
            if let Some(name) = file.filename {
                chat_file["filename"] = Value::String(name);
            }
            out.kind = "file".into();
            out.extra.insert("file".into(), chat_file);
        }
        InputContent::InputAudio { input_audio } => {
            if input_audio.is_null() {
                return Err(invalid(format!("{at}: input_audio needs input_audio")));
            }
            out.kind = "input_audio".into();
            out.extra.insert("input_audio".into(), input_audio);
        }
        other => {
            return Err(invalid(format!(
                "{at}: content parts of type '{}' are not supported: use input_text, \
                 input_image, input_file or input_audio",
                part_type(&other)
            )))
        }
    }
    Ok(out)
}

/// A part's `type`, for the error about it (`""` when it has none).
fn part_type(part: &InputContent) -> &str {
    match part {
        InputContent::InputText { .. } => "input_text",
        InputContent::OutputText(_) => "output_text",
        InputContent::Refusal(_) => "refusal",
        InputContent::InputImage(_) => "input_image",
        InputContent::InputFile(_) => "input_file",
        InputContent::InputAudio { .. } => "input_audio",
        InputContent::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
    }
}

pub(super) fn chat_tool(i: usize, tool: &Value) -> Result<Tool, BifrostError> {
    let at = format!("tools[{i}]");
    let def = match read_at(&at, tool)? {
        wire::Tool::Function(def) => def,
        wire::Tool::Other(v) => {
            let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
            return Err(invalid(format!(
                "{at}: the built-in tool '{kind}' is not supported: the gateway translates \
                 Responses to chat for every provider, and only function tools exist there"
            )));
        }
    };
    let mut extra = Extra::new();
    if let Some(strict) = def.strict {
        extra.insert("strict".into(), Value::Bool(strict));
    }
    Ok(Tool::function(FunctionDef {
        name: def.name,
        description: def.description,
        parameters: def.parameters,
        extra,
    }))
}

fn function_choice(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name}})
}

pub(super) fn chat_tool_choice(choice: &Value) -> Result<Value, BifrostError> {
    let bad = |what: &str| {
        invalid(format!(
            "tool_choice {what} is not supported: use \"auto\", \"none\", \"required\", \
             {{\"type\":\"function\",\"name\":…}} or {{\"type\":\"allowed_tools\",…}}"
        ))
    };
    match read_at("tool_choice", choice)? {
        ToolChoice::Mode(mode) => Ok(json!(mode)),
        ToolChoice::Function(f) => Ok(function_choice(&f.name)),
        ToolChoice::AllowedTools(allowed) => {
            let tools = allowed
                .tools
                .iter()
                .map(|t| match t {
                    wire::Tool::Function(f) => Ok(function_choice(&f.name)),
                    wire::Tool::Other(_) => Err(bad("allowed_tools naming a non-function tool")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({
                "type": "allowed_tools",
                "allowed_tools": {"mode": allowed.mode, "tools": tools}
            }))
        }
        ToolChoice::Other(Value::String(s)) => Err(bad(&format!("'{s}'"))),
        ToolChoice::Other(v) if v.is_object() => match v.get("type").and_then(Value::as_str) {
            Some(kind) => Err(bad(&format!("of type '{kind}' (a built-in tool)"))),
            None => Err(bad("without a type")),
        },
        ToolChoice::Other(_) => Err(bad("of this shape")),
    }
}
