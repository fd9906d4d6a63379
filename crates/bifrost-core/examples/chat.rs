//! Embedding the engine, the Rust counterpart of the seed's Go example.
//!
//! `cargo run -p bifrost-core --example chat` talks to OpenAI when `OPENAI_API_KEY` is set, and
//! otherwise to a mock provider started in-process, so it runs anywhere.

mod common;

use bifrost_core::{
    Bifrost, BifrostConfig, ChatMessage, ChatRequest, ConcurrencyAndBufferSize, Key, NetworkConfig,
    ProviderConfig, StaticAccount,
};
use futures::StreamExt;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut _mock = None;
    let (provider, config, keys) = match std::env::var("OPENAI_API_KEY") {
        Ok(key) => (
            "openai",
            ProviderConfig::default(),
            vec![Key::new(key).with_models(&["gpt-4o-mini"])],
        ),
        Err(_) => {
            let (mock, config) = common::start_mock_provider().await?;
            _mock = Some(mock);
            ("mock", config, Vec::new())
        }
    };

    // The seed's "high-performance" settings.
    let config = ProviderConfig {
        concurrency: ConcurrencyAndBufferSize {
            concurrency: 25,
            buffer_size: 300,
        },
        network: NetworkConfig {
            request_timeout: Duration::from_secs(60),
            max_retries: 3,
            ..config.network
        },
        ..config
    };
    let mut bifrost_config =
        BifrostConfig::new(StaticAccount::new().with_provider(provider, config, keys));
    bifrost_config.initial_pool_size = 20_000;
    bifrost_config.drop_excess_requests = false;
    let client = Bifrost::init(bifrost_config)?;

    let start = Instant::now();
    let response = client
        .chat_completion(ChatRequest::new(
            provider,
            "gpt-4o-mini",
            vec![ChatMessage::user("Hello!")],
        ))
        .await?;
    println!(
        "{provider}: {:?} ({:?})",
        response.body.choices[0].message.text_content(),
        start.elapsed()
    );

    let mut stream = client
        .chat_completion_stream(ChatRequest::new(
            provider,
            "gpt-4o-mini",
            vec![ChatMessage::user("Stream a few words, please.")],
        ))
        .await?
        .body;
    while let Some(chunk) = stream.next().await {
        if let Some(text) = chunk?
            .choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
        {
            print!("{text}");
        }
    }
    println!();
    drop(stream);

    // In-flight requests finish, then the engine stops.
    client.shutdown().await;
    Ok(())
}
