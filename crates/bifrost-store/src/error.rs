//! The crate's one error type. Messages never carry passwords, keys or connection URLs.

/// Everything that can go wrong in a store.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// A store section of `config.json` is invalid; `field` is its JSON path.
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    /// The database could not be reached or opened (`backend` is [`crate::Backend::describe`]).
    #[error("cannot open {backend}: {source}")]
    Connect {
        backend: String,
        #[source]
        source: sqlx::Error,
    },
    /// The parent directory of a SQLite file could not be created.
    #[error("cannot create directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The database was migrated by a newer binary.
    #[error("{store} schema version {found} is newer than this binary supports ({supported}); upgrade bifrost-http or point it at another database")]
    SchemaTooNew {
        store: &'static str,
        found: i64,
        supported: i64,
    },
    /// A secret stored encrypted could not be decrypted; `entity` names what it belongs to.
    #[error("{entity}: {reason}")]
    Decrypt { entity: String, reason: String },
    /// A stored value could not be read back (bad JSON in a column, an unknown enum value).
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: String, reason: String },
    /// A caller-supplied argument is invalid (a malformed cursor, a zero bucket width).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
