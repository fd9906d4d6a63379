//! `tools`/`toolConfig` → function tools and `tool_choice`; Gemini schemas → JSON Schema.

use super::*;

pub(super) fn translate_tools(tools: &[wire::Tool]) -> Result<Vec<Tool>, BifrostError> {
    let mut out = Vec::new();
    for (t, tool) in tools.iter().enumerate() {
        if let Some((key, _)) = tool.extra.iter().find(|(_, v)| !v.is_null()) {
            return Err(BifrostError::invalid_request(format!(
                "tools[{t}]: the '{key}' tool is not supported through /genai; only \
                 functionDeclarations can be served by every provider"
            )));
        }
        out.extend(tool.function_declarations.iter().map(|d| {
            Tool::function(FunctionDef {
                name: d.name.clone(),
                description: d.description.clone(),
                parameters: d
                    .parameters_json_schema
                    .as_ref()
                    .or(d.parameters.as_ref())
                    .filter(|p| !p.is_null())
                    .map(openai_schema),
                extra: Map::new(),
            })
        }));
    }
    Ok(out)
}

/// Gemini's OpenAPI-style `Schema` → JSON Schema: `type` names are lowercased (`OBJECT` →
/// `object`, so OpenAI-style upstreams accept them), and `nullable: true` becomes a `"null"`
/// alternative in `type` (and in `enum`, if any). Only schema positions are visited (`properties`, `items`, `anyOf`, …),
/// never `enum`, `default` or `example` values. Other keywords pass unchanged.
pub fn openai_schema(schema: &Value) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let each_value = |v: &Value| match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, s)| (k.clone(), openai_schema(s)))
                .collect(),
        ),
        other => other.clone(),
    };
    let each_item = |v: &Value| match v {
        Value::Array(a) => Value::Array(a.iter().map(openai_schema).collect()),
        other => other.clone(),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let value = match key.as_str() {
            "type" => lowercase_type(value),
            "properties" | "$defs" | "definitions" | "patternProperties" => each_value(value),
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => each_item(value),
            "items" | "additionalProperties" | "not" | "contains" | "propertyNames" => {
                openai_schema(value)
            }
            "nullable" => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), json!([t, "null"]));
                // An `enum` must admit the null too, or the widened type means nothing.
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    if !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                }
            }
            // Without a single type there is nothing to widen; keep the annotation.
            _ => {
                out.insert("nullable".into(), Value::Bool(true));
            }
        }
    }
    Value::Object(out)
}

fn lowercase_type(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_ascii_lowercase()),
        Value::Array(a) => Value::Array(a.iter().map(lowercase_type).collect()),
        other => other.clone(),
    }
}

/// `Ok(None)`: no `tool_choice` to send. May narrow `tools` to `allowedFunctionNames`.
pub(super) fn tool_choice(
    config: &FunctionCallingConfig,
    tools: &mut Vec<Tool>,
) -> Result<Option<Value>, BifrostError> {
    let mode = config
        .mode
        .as_deref()
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    let names = config.allowed_function_names.as_deref().unwrap_or_default();
    if let Some(missing) = names
        .iter()
        .find(|n| !tools.iter().any(|t| &t.function.name == *n))
    {
        return Err(BifrostError::invalid_request(format!(
            "toolConfig.functionCallingConfig.allowedFunctionNames names '{missing}', which is \
             not among the functionDeclarations"
        )));
    }
    let choice = match mode.as_str() {
        "AUTO" | "MODE_UNSPECIFIED" | "VALIDATED" => "auto",
        "NONE" => "none",
        "ANY" => "required",
        other => {
            return Err(BifrostError::invalid_request(format!(
                "unsupported functionCallingConfig mode '{other}' (expected AUTO, ANY, NONE or \
                 VALIDATED)"
            )))
        }
    };
    if tools.is_empty() {
        return match choice {
            "required" => Err(BifrostError::invalid_request(
                "functionCallingConfig mode ANY needs at least one functionDeclaration",
            )),
            _ => Ok(None),
        };
    }
    match (choice, names) {
        ("required", [only]) => Ok(Some(
            json!({"type": "function", "function": {"name": only}}),
        )),
        ("none", _) | (_, []) => Ok(Some(Value::String(choice.to_owned()))),
        (_, names) => {
            tools.retain(|t| names.contains(&t.function.name));
            Ok(Some(Value::String(choice.to_owned())))
        }
    }
}
