use super::*;

/// An environment made of fixed pairs.
pub(crate) fn env_of(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

const SEED_HIGH_PERF: &str = include_str!("../../tests/fixtures/seed-config.json");

#[test]
fn the_seed_config_loads_as_printed() {
    let c = parse(SEED_HIGH_PERF, &env_of(&[("OPENAI_API_KEY", "sk-test")])).unwrap();
    assert_eq!(c.initial_pool_size, Some(20000));
    assert_eq!(c.drop_excess_requests, Some(false));
    let p = &c.providers[0];
    assert_eq!(p.name, "openai");
    assert_eq!(p.keys[0].value.expose(), "sk-test");
    assert_eq!(p.keys[0].models, vec!["gpt-4o-mini", "gpt-4o"]);
    assert_eq!(p.config.network.request_timeout, Duration::from_secs(60));
    assert_eq!(p.config.network.max_retries, 3);
    assert_eq!(
        p.config.concurrency,
        ConcurrencyAndBufferSize {
            concurrency: 25,
            buffer_size: 300
        }
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn the_seed_memory_efficient_config_loads_as_printed() {
    let c = parse(
        r#"{
  "providers": {
    "openai": {
      "keys": [
        {
          "value": "env.OPENAI_API_KEY",
          "models": ["gpt-4o-mini"],
          "weight": 1.0
        }
      ],
      "concurrency_and_buffer_size": {
        "concurrency": 10,
        "buffer_size": 50
      }
    }
  },
  "initial_pool_size": 1000,
  "drop_excess_requests": true
}"#,
        &env_of(&[("OPENAI_API_KEY", "sk-test")]),
    )
    .unwrap();
    assert_eq!(c.initial_pool_size, Some(1000));
    assert_eq!(c.drop_excess_requests, Some(true));
    assert!(!c.auth.enabled && c.cors == CorsConfig::default());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

/// Issue 15: the seed's load test (5,000 RPS, 1.5 s upstream) configures 10,000 slots; no
/// connection cap the user did not ask for may hold them under that.
#[test]
fn no_connection_cap_holds_requests_in_flight_under_concurrency() {
    let config = |network: &str| {
        format!(
            r#"{{"providers":{{"openai":{{"keys":[{{"value":"k"}}],
                "concurrency_and_buffer_size":{{"concurrency":10000,"buffer_size":15000}},
                "network_config":{{{network}}}}}}}}}"#
        )
    };
    let c = parse(&config(""), &env_of(&[])).unwrap();
    let p = &c.providers[0];
    assert_eq!(p.config.concurrency.concurrency, 10_000);
    assert_eq!(p.config.network.max_conns_per_host, None);
    let c = parse(&config(r#""max_conns_per_host":10000"#), &env_of(&[])).unwrap();
    assert_eq!(
        c.providers[0].config.network.max_conns_per_host,
        Some(10_000)
    );
    let e = parse(&config(r#""max_conns_per_host":5000"#), &env_of(&[])).unwrap_err();
    assert_eq!(e.path, "providers.openai.network_config.max_conns_per_host");
    assert!(
        e.message
            .contains("below providers.openai.concurrency_and_buffer_size.concurrency (10000)"),
        "{e}"
    );
}

#[test]
fn a_missing_env_variable_names_path_and_variable() {
    let e = parse(SEED_HIGH_PERF, &env_of(&[])).unwrap_err();
    assert_eq!(e.path, "providers.openai.keys[0].value");
    assert!(e.message.contains("OPENAI_API_KEY"), "{e}");
}

#[test]
fn type_errors_name_the_json_path() {
    let e = parse(
        r#"{"providers":{"openai":{"keys":[{"value":"k","weight":"heavy"}]}}}"#,
        &env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(e.path, "providers.openai.keys[0].weight");
    let e = parse(r#"{"providers":{"nope":{"keys":[]}}}"#, &env_of(&[])).unwrap_err();
    assert_eq!(e.path, "providers.nope");
}

#[test]
fn newer_spellings_load_and_conflicts_fail() {
    let c = parse(
        r#"{"client":{"initial_pool_size":100,"drop_excess_requests":true,
                "prometheus_labels":["team-id"],"max_request_body_size_mb":2},
               "providers":{"anthropic":{"keys":[{"value":"k"}],
                "network_config":{"default_request_timeout_in_seconds":5,"max_retries":0,
                  "retry_backoff_initial_ms":10,"retry_backoff_max":20,
                  "base_url":"http://127.0.0.1:1/"}}}}"#,
        &env_of(&[]),
    )
    .unwrap();
    assert_eq!(c.initial_pool_size, Some(100));
    assert_eq!(c.drop_excess_requests, Some(true));
    assert_eq!(c.max_request_body_bytes, Some(2 * 1024 * 1024));
    let n = &c.providers[0].config.network;
    assert_eq!(n.request_timeout, Duration::from_secs(5));
    assert_eq!(n.max_retries, 0);
    assert_eq!(n.retry_backoff_initial, Duration::from_millis(10));

    let e = parse(
        r#"{"initial_pool_size":1,"client":{"initial_pool_size":2}}"#,
        &env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(e.path, "initial_pool_size");
    assert!(e.message.contains("client.initial_pool_size"));
    let e = parse(
            r#"{"providers":{"openai":{"keys":[{"value":"k"}],"network_config":{"timeout":1000,"default_request_timeout_in_seconds":2}}}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
    assert_eq!(e.path, "providers.openai.network_config.timeout");
    for (nc, path) in [
        (
            r#""default_request_timeout_in_seconds":18446744073709551615"#,
            "default_request_timeout_in_seconds",
        ),
        (r#""timeout":86400001"#, "timeout"),
    ] {
        let e = parse(
                &format!(
                    r#"{{"providers":{{"openai":{{"keys":[{{"value":"k"}}],"network_config":{{{nc}}}}}}}}}"#
                ),
                &env_of(&[]),
            )
            .unwrap_err();
        assert_eq!(
            e.path,
            format!("providers.openai.network_config.{path}"),
            "{e:?}"
        );
    }
}

#[test]
fn unknown_keys_warn_and_empty_model_lists_allow_all() {
    let c = parse(
            r#"{"surprise":1,"providers":{"openai":{"keys":[{"value":"k","models":[],"colour":"red"}]}}}"#,
            &env_of(&[]),
        )
        .unwrap();
    assert!(c.warnings.iter().any(|w| w.starts_with("surprise")));
    assert!(c.warnings.iter().any(|w| w.contains("colour")));
    assert!(c.providers[0].keys[0].models.is_empty());
}

#[test]
fn detection_reads_provider_key_variables() {
    let found = detect_providers(&env_of(&[
        ("ANTHROPIC_KEY", "a"),
        ("OPENAI_API_KEY", "o"),
        ("GROQ_API_KEY", " "),
    ]));
    let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["openai", "anthropic"]);
    assert_eq!(found[1].keys[0].value.expose(), "a");

    let found = detect_providers(&env_of(&[
        ("GEMINI_API_KEY", "g"),
        ("COHERE_API_KEY", "c"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ]));
    let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
    // Bedrock needs a region too.
    assert_eq!(names, vec!["gemini", "cohere"]);
    let found = detect_providers(&env_of(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "eu-west-1"),
    ]));
    let Some(CloudKeyConfig::Bedrock(b)) = &found[0].keys[0].cloud else {
        panic!("{found:?}")
    };
    assert_eq!(
        (b.access_key.as_str(), b.region.as_str()),
        ("AKID", "eu-west-1")
    );
    let found = detect_providers(&env_of(&[("AWS_BEARER_TOKEN_BEDROCK", "bk")]));
    assert_eq!(found[0].name, "bedrock");
    assert_eq!(found[0].keys[0].value.expose(), "bk");
}

#[test]
fn cloud_key_configs_are_validated_with_their_paths() {
    let bad = |json: &str| parse(json, &env_of(&[("SK", "secret")])).unwrap_err();
    let e = bad(r#"{"providers":{"azure":{"keys":[{"value":"k"}]}}}"#);
    assert_eq!(e.path, "providers.azure.keys[0].azure_key_config");
    let e = bad(
        r#"{"providers":{"openai":{"keys":[{"value":"k","azure_key_config":{"endpoint":"x"}}]}}}"#,
    );
    assert_eq!(e.path, "providers.openai.keys[0].azure_key_config");
    let e = bad(
        r#"{"providers":{"azure":{"keys":[{"azure_key_config":{"endpoint":"https://x","client_id":"c"}}]}}}"#,
    );
    assert!(e.message.contains("client_secret and tenant_id"), "{e}");
    let e =
        bad(r#"{"providers":{"bedrock":{"keys":[{"bedrock_key_config":{"access_key":"AK"}}]}}}"#);
    assert_eq!(e.path, "providers.bedrock.keys[0].bedrock_key_config");
    let e = bad(
        r#"{"providers":{"bedrock":{"keys":[{"bedrock_key_config":{"access_key":"AK","secret_key":"env.NOPE"}}]}}}"#,
    );
    assert_eq!(
        e.path,
        "providers.bedrock.keys[0].bedrock_key_config.secret_key"
    );
    let e = bad(
        r#"{"providers":{"vertex":{"keys":[{"vertex_key_config":{"project_id":"p","auth_credentials":"{}"}}]}}}"#,
    );
    assert_eq!(
        e.path,
        "providers.vertex.keys[0].vertex_key_config.auth_credentials"
    );
    let e = bad(
        r#"{"providers":{"x":{"keys":[],"custom_provider_config":{"base_provider_type":"soap"}}}}"#,
    );
    assert_eq!(
        e.path,
        "providers.x.custom_provider_config.base_provider_type"
    );
    let e = bad(
        r#"{"providers":{"x":{"keys":[],"network_config":{"base_url":"http://h"},"custom_provider_config":{"base_provider_type":"openai","is_key_less":true,"allowed_requests":{"video":true}}}}}"#,
    );
    assert_eq!(
        e.path,
        "providers.x.custom_provider_config.allowed_requests.video"
    );

    let ok = parse(
            r#"{"providers":{"bedrock":{"keys":[{"bedrock_key_config":{"access_key":"AK","secret_key":"env.SK","region":"eu-west-1","deployments":{"claude":"arn:aws:bedrock:eu-west-1:1:inference-profile/x"}}}]}}}"#,
            &env_of(&[("SK", "secret")]),
        )
        .unwrap();
    let key = &ok.providers[0].keys[0];
    assert!(key.allows("claude") && !key.allows("other"));
    let Some(CloudKeyConfig::Bedrock(b)) = &key.cloud else {
        panic!("{key:?}")
    };
    assert_eq!(b.secret_key.expose(), "secret");
    // The secret never shows in debug output.
    assert!(!format!("{key:?}").contains("secret\""), "{key:?}");
}

#[test]
fn the_otel_plugin_loads_and_disabled_plugins_warn() {
    let c = parse(
        r#"{"plugins":[
                {"enabled":true,"name":"otel","config":{"collector_url":"http://collector:4318",
                  "protocol":"http","service_name":"gw","trace_type":"genai_extension",
                  "headers":{"authorization":"env.OTEL_TOKEN","x-team":"t1"}}},
                {"enabled":false,"name":"semanticcache","config":{"ttl":5}}]}"#,
        &env_of(&[
            ("OTEL_TOKEN", "Bearer s3cret"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=env,x-env=1"),
            ("OTEL_SERVICE_NAME", "ignored"),
        ]),
    )
    .unwrap();
    let o = c.otel.unwrap();
    assert_eq!(o.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(o.service_name, "gw");
    let h: BTreeMap<_, _> = o.headers.into_iter().collect();
    assert_eq!(h["authorization"], "Bearer s3cret");
    assert_eq!(h["x-team"], "t1", "config.json wins over the environment");
    assert_eq!(h["x-env"], "1");
    assert!(!c.otel_disabled);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].starts_with("plugins[1]"), "{:?}", c.warnings);
}

#[test]
fn the_otel_plugin_rejects_grpc_and_bad_settings_by_path() {
    let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"collector_url":"http://c:4317","protocol":"grpc"}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
    assert_eq!(e.path, "plugins[0].config.protocol");
    assert!(e.message.contains("only \"http\""), "{e}");
    let e = parse(
            r#"{"plugins":[{"enabled":false,"name":"x"},{"enabled":true,"name":"otel","config":{"collector_url":"c:4318"}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
    assert_eq!(e.path, "plugins[1].config.collector_url");
    let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"collector_url":"http://c","headers":{"k":7}}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
    assert_eq!(e.path, "plugins[0].config.headers.k");
    let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"collector_url":"http://c","headers":{"k":"env.NOPE"}}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
    assert_eq!(e.path, "plugins[0].config.headers.k");
    assert!(e.message.contains("NOPE"), "{e}");
    let e = parse(
        r#"{"plugins":[{"enabled":true,"name":"otel","config":{}}]}"#,
        &env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(e.path, "plugins[0].config.collector_url");
}

#[test]
fn the_otel_plugin_falls_back_on_the_environment_or_stays_off() {
    let c = parse(
        r#"{"plugins":[{"enabled":true,"name":"otel","config":{"colour":"red"}}]}"#,
        &env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")]),
    )
    .unwrap();
    assert_eq!(c.otel.unwrap().endpoint, "http://env:4318/v1/traces");
    assert!(c
        .warnings
        .iter()
        .any(|w| w.starts_with("plugins[0].config.colour")));
    let c = parse(
        r#"{"plugins":[{"enabled":false,"name":"otel","config":{"collector_url":"http://c"}}]}"#,
        &env_of(&[]),
    )
    .unwrap();
    assert!(c.otel.is_none() && c.otel_disabled);
}

#[test]
fn sections_that_cannot_be_enforced_stop_startup() {
    let refused = |json: &str| parse(json, &env_of(&[])).unwrap_err();
    let e = refused(r#"{"governance":{"routing_rules":[{"id":"r1"}]}}"#);
    assert_eq!(e.path, "governance.routing_rules");
    assert!(e.message.contains("not supported"), "{e}");
    let e = refused(r#"{"mcp":{"client_configs":[{"name":"fs","connection_type":"stdio"}]}}"#);
    assert_eq!(e.path, "mcp.client_configs");
    let e = refused(r#"{"vector_store":{"enabled":true,"type":"redis","config":{}}}"#);
    assert_eq!(e.path, "vector_store");
    let e = refused(r#"{"plugins":[{"enabled":true,"name":"semantic_cache"}]}"#);
    assert_eq!(e.path, "plugins[0]");
    assert!(e.message.contains("semantic_cache") && e.message.contains("not supported"));
    let e = refused(r#"{"plugins":[{"enabled":true,"name":"otel","path":"/x.so"}]}"#);
    assert_eq!(e.path, "plugins[0].path");

    // Empty or disabled sections, built-in plugins and the store sections load.
    let c = parse(
        r#"{"governance":{"virtual_keys":[],"budgets":[]},"mcp":{"client_configs":[]},
                "vector_store":{"enabled":false,"type":"redis"},
                "plugins":[{"enabled":true,"name":"telemetry","config":{}},
                           {"enabled":true,"name":"logging"},
                           {"enabled":false,"name":"maxim"}],
                "config_store":{"enabled":true,"type":"sqlite","config":{"path":"c.db"}},
                "logs_store":{"enabled":false},"encryption_key":"k","kv_store":{"type":"memory"},
                "framework":{},"websocket":{},"source_of_truth":"split"}"#,
        &env_of(&[]),
    )
    .unwrap();
    // kv_store and framework are read now (governance); the others are ignored, said so.
    for section in ["vector_store", "plugins[2]", "websocket"] {
        assert!(
            c.warnings.iter().any(|w| w.starts_with(section)),
            "{section}: {:?}",
            c.warnings
        );
    }
    assert!(!c
        .warnings
        .iter()
        .any(|w| w.starts_with("governance") || w.starts_with("kv_store")));
}

#[test]
fn auth_config_is_read_and_validated() {
    let c = parse(
        r#"{"auth_config":{"is_enabled":true,"admin_username":"admin",
                "admin_password":"env.ADMIN_PW","disable_auth_on_inference":true,
                "metrics_open":true}}"#,
        &env_of(&[("ADMIN_PW", "s3cret")]),
    )
    .unwrap();
    assert!(c.auth.enabled && c.auth.disable_auth_on_inference && c.auth.metrics_open);
    assert_eq!(c.auth.username, "admin");
    assert_eq!(c.auth.password.expose(), "s3cret");
    assert!(!format!("{c:?}").contains("s3cret"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let e = parse(
        r#"{"auth_config":{"is_enabled":true,"admin_password":"p"}}"#,
        &env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(e.path, "auth_config.admin_username");
    let e = parse(
        r#"{"auth_config":{"is_enabled":true,"admin_username":"a","admin_password":""}}"#,
        &env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(e.path, "auth_config.admin_password");
    let e = parse(
        r#"{"auth_config":{"is_enabled":true,"admin_username":"a","admin_password":"env.NOPE"}}"#,
        &env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(e.path, "auth_config.admin_password");
    assert!(e.message.contains("NOPE"));
    // Off: credentials (and their variables) are not needed.
    let c = parse(
        r#"{"auth_config":{"is_enabled":false,"admin_password":"env.NOPE"}}"#,
        &env_of(&[]),
    )
    .unwrap();
    assert!(!c.auth.enabled);
    let e = parse(r#"{"auth_config":{"is_enabled":"yes"}}"#, &env_of(&[])).unwrap_err();
    assert_eq!(e.path, "auth_config.is_enabled");
}

#[test]
fn client_cors_whitelist_and_pprof_settings() {
    let c = parse(
            r#"{"client":{"allowed_origins":["https://App.example.com/","*"],
                "allowed_headers":["X-Team","x-tenant-*"],"whitelisted_routes":["/v1/models","/api/public/*"],
                "enable_pprof":false,"disable_db_pings_in_health":true}}"#,
            &env_of(&[]),
        )
        .unwrap();
    assert_eq!(
        c.cors.allowed_origins,
        vec!["https://app.example.com".to_owned(), "*".to_owned()]
    );
    assert_eq!(c.cors.allowed_headers, vec!["x-team", "x-tenant-*"]);
    assert_eq!(c.whitelisted_routes, vec!["/v1/models", "/api/public/*"]);
    assert_eq!(c.enable_pprof, Some(false));
    assert!(c.disable_db_pings_in_health);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let bad = |json: &str| parse(json, &env_of(&[])).unwrap_err().path;
    assert_eq!(
        bad(r#"{"client":{"allowed_origins":["example.com"]}}"#),
        "client.allowed_origins[0]"
    );
    assert_eq!(
        bad(r#"{"client":{"allowed_origins":["*","https://x.com/app"]}}"#),
        "client.allowed_origins[1]"
    );
    assert_eq!(
        bad(r#"{"client":{"allowed_headers":["bad header"]}}"#),
        "client.allowed_headers[0]"
    );
    assert_eq!(
        bad(r#"{"client":{"whitelisted_routes":["v1/models"]}}"#),
        "client.whitelisted_routes[0]"
    );
    assert_eq!(
        bad(r#"{"client":{"whitelisted_routes":["/a/*/b"]}}"#),
        "client.whitelisted_routes[0]"
    );
}
