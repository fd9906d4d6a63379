//! The README's provider table is the one the code generates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn readme_provider_table_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = "<!-- providers:start -->\n";
    let end = "<!-- providers:end -->";
    let from = readme
        .find(start)
        .expect("README has the providers:start marker")
        + start.len();
    let to = readme
        .find(end)
        .expect("README has the providers:end marker");
    let expected = bifrost_core::providers::capability_table();
    assert!(
        readme[from..to] == expected,
        "README.md's provider table is stale; replace it with:\n{expected}"
    );
}
