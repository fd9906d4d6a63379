//! What the examples share: a mock provider started in-process, so they run anywhere.

use bifrost_core::{ApiFormat, CustomProviderConfig, NetworkConfig, ProviderConfig};
use bifrost_mock::{MockConfig, MockServer};

/// Starts the mock (no auth) and returns it with the config that reaches it as a key-less,
/// OpenAI-compatible provider. Keep the mock alive as long as the engine uses it.
pub async fn start_mock_provider() -> std::io::Result<(MockServer, ProviderConfig)> {
    let mock = MockServer::start(MockConfig {
        require_auth: false,
        ..Default::default()
    })
    .await?;
    let config = ProviderConfig {
        network: NetworkConfig {
            base_url: Some(mock.url()),
            ..NetworkConfig::default()
        },
        custom: Some(CustomProviderConfig {
            is_key_less: true,
            ..CustomProviderConfig::new(ApiFormat::OpenAi)
        }),
        ..ProviderConfig::default()
    };
    Ok((mock, config))
}
