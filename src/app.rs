//! Assembly: configuration → secret, database, mailer, plugins → a running server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::auth::origins::TrustedOrigins;
use crate::config::{COMPONENT_PREFIX, Config, Layout};
use crate::crypto::{Signer, random_id};
use crate::http::{AppState, Plugins, StateError, router};
use crate::mail::{MailError, Mailer};
use crate::plugins::webhooks;
use crate::plugins::{RegistryError, registry};
use crate::store::cache::CachedStore;
use crate::store::hooks::{self, HookedStore, Hooks, HooksError};
use crate::store::mirror::{Mirror, MirroredStore};
use crate::store::schema_config::SchemaConfigError;
use crate::store::secondary;
use crate::store::sql::{self, SqlStore};
use crate::store::{Schema, Store, StoreError, migrate};

const MIN_SECRET_LEN: usize = 32;

/// A configuration whose schema cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Config(#[from] SchemaConfigError),
}

/// A database that cannot be opened, or whose schema cannot be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("data_dir: {0}")]
    DataDir(#[source] std::io::Error),
    #[error("database: {0}")]
    Open(#[source] StoreError),
    #[error("{statement}: {source}")]
    Statement { statement: String, source: StoreError },
    #[error(transparent)]
    Migrate(StoreError),
    #[error(
        "the database schema is behind ({count} change(s), first: {first}); run `palisade migrate` (or \
         `palisade migrate --dry-run` to see them)"
    )]
    Behind { count: usize, first: String },
}

/// Why the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Hooks(#[from] HooksError),
    #[error("BETTER_AUTH_SECRET must be at least {MIN_SECRET_LEN} characters in production")]
    ShortSecret,
    #[error("BETTER_AUTH_SECRET is required in production (at least 32 characters)")]
    NoSecret,
    #[error("cannot write {}: {source}", path.display())]
    WriteSecret { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("secondary storage: {0}")]
    SecondaryStorage(#[source] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("listen {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("{0}")]
    Serve(#[source] std::io::Error),
    /// A plugin's background work (the webhook worker).
    #[error("{0}")]
    Plugin(crate::http::plugin::StartError),
}

/// The configured secret; in development a generated one kept in the data folder.
fn resolve_secret(cfg: &Config) -> Result<String, StartError> {
    if let Some(s) = cfg.secret.as_deref().filter(|s| !s.is_empty()) {
        if s.len() < MIN_SECRET_LEN {
            if cfg.is_production() {
                return Err(StartError::ShortSecret);
            }
            tracing::warn!("the secret is shorter than {MIN_SECRET_LEN} characters");
        }
        return Ok(s.to_string());
    }
    if cfg.is_production() {
        return Err(StartError::NoSecret);
    }
    let path = cfg.data_dir.join("palisade.secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if s.len() >= MIN_SECRET_LEN {
            return Ok(s);
        }
    }
    let secret = random_id(48);
    write_private(&path, &secret).map_err(|source| StartError::WriteSecret { path: path.clone(), source })?;
    tracing::warn!(path = %path.display(), "no BETTER_AUTH_SECRET set: generated a development secret; set one for production");
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(contents.as_bytes())
}

/// The schema of a configuration; `app_user_id` adds `user.userId` (a user after-create hook).
pub fn schema_for(cfg: &Config, app_user_id: bool) -> Result<Schema, SchemaError> {
    let dialect = sql::Dialect::from_url(&cfg.database_url()).unwrap_or(sql::Dialect::Sqlite);
    schema_for_dialect(cfg, app_user_id, dialect)
}

/// [`schema_for`] on `dialect` (`palisade generate` may print another dialect's DDL): the
/// `component` layout prefixes default table names where there is no schema to put them in.
pub fn schema_for_dialect(cfg: &Config, app_user_id: bool, dialect: sql::Dialect) -> Result<Schema, SchemaError> {
    let plugins = registry(cfg)?;
    Ok(laid_out(cfg, base_schema(cfg, &plugins, app_user_id)?, dialect))
}

/// The schema `palisade webhooks` reads: with the outbox even when no endpoint is configured
/// now, so the log of earlier deliveries stays readable.
pub fn schema_with_outbox(cfg: &Config) -> Result<Schema, SchemaError> {
    let dialect = sql::Dialect::from_url(&cfg.database_url()).unwrap_or(sql::Dialect::Sqlite);
    let plugins = registry(cfg)?;
    let mut schema = base_schema(cfg, &plugins, false)?;
    webhooks::add_outbox(&mut schema);
    Ok(laid_out(cfg, schema, dialect))
}

fn laid_out(cfg: &Config, mut schema: Schema, dialect: sql::Dialect) -> Schema {
    if cfg.database.layout == Layout::Component && dialect != sql::Dialect::Postgres {
        for m in schema.models.iter_mut().filter(|m| m.has_default_table()) {
            m.table = format!("{COMPONENT_PREFIX}{}", m.table);
        }
    }
    schema
}

fn base_schema(cfg: &Config, plugins: &Plugins, app_user_id: bool) -> Result<Schema, SchemaError> {
    let mut schema = Schema::core();
    for p in plugins.iter() {
        p.schema(&mut schema);
    }
    schema.configure(&cfg.schema)?;
    if app_user_id || hooks::config_sets_app_user_id(&cfg.hooks) {
        schema.add_app_user_id();
    }
    if cfg.rate_limit.storage == crate::config::RateLimitStorage::Database {
        schema.add_rate_limit();
    }
    Ok(schema)
}

/// How `open_store` treats a schema that is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSchema {
    /// Apply what is missing (`palisade migrate`; `serve` on the embedded SQLite default).
    Migrate,
    /// Refuse with the command that fixes it (`serve` on PostgreSQL and MySQL).
    Require,
}

/// Opens the database and brings or checks its schema.
pub async fn open_store(
    cfg: &Config,
    schema: Arc<Schema>,
    on_schema: OnSchema,
    progress: impl Fn(&str),
) -> Result<(SqlStore, Arc<Schema>, Vec<String>), DatabaseError> {
    let url = cfg.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir).map_err(DatabaseError::DataDir)?;
    }
    let pool = sql::open(&url).await.map_err(DatabaseError::Open)?;
    let missing_ns = missing_namespace(cfg, &pool).await?;
    let applied = match on_schema {
        OnSchema::Migrate => {
            let mut applied = Vec::new();
            if let Some(create) = missing_ns {
                progress(&create);
                if let Err(source) = pool.execute_raw(&create).await {
                    return Err(DatabaseError::Statement { statement: create, source });
                }
                applied.push(create);
            }
            applied.extend(migrate::migrate(&pool, &schema, progress).await.map_err(DatabaseError::Migrate)?);
            applied
        }
        OnSchema::Require => {
            let missing = match missing_ns {
                Some(create) => vec![create],
                None => migrate::plan(&pool, &schema).await.map_err(DatabaseError::Migrate)?,
            };
            if let Some(first) = missing.first() {
                return Err(DatabaseError::Behind { count: missing.len(), first: first.clone() });
            }
            missing
        }
    };
    Ok((SqlStore::new(pool, schema.clone()), schema, applied))
}

/// The statement that creates the auth tables' PostgreSQL schema (`component` layout), when
/// it does not exist yet. Until it does, connections would find (and create) tables in
/// `public`: nothing may be planned or served before it is there.
pub async fn missing_namespace(cfg: &Config, pool: &sql::Pool) -> Result<Option<String>, DatabaseError> {
    let Some(ns) = cfg.component_schema() else { return Ok(None) };
    let current = pool.strings("select current_schema()::text", None).await.map_err(DatabaseError::Open)?;
    Ok((current.first().map(String::as_str) != Some(ns)).then(|| format!("create schema if not exists {ns}")))
}

/// A built server: the context every request shares, and the enabled plugins.
pub struct App {
    pub auth: Arc<Auth>,
    pub plugins: Plugins,
}

impl std::ops::Deref for App {
    type Target = Auth;
    fn deref(&self) -> &Auth {
        &self.auth
    }
}

impl App {
    /// What the HTTP layer shares between requests.
    pub fn state(&self) -> Result<AppState, StateError> {
        AppState::new(self.auth.clone(), self.plugins.clone())
    }

    /// The whole API, mounted at the base path (see [`crate::http::router`]).
    pub fn router(&self) -> Result<axum::Router, StateError> {
        Ok(router(self.state()?))
    }
}

/// Builds the server from a configuration.
pub async fn build(cfg: Config) -> Result<App, StartError> {
    build_with(cfg, Hooks::new()).await
}

/// Builds the server with database hooks written in Rust (library mode); they run after the
/// configured SQL hooks of the same model and event.
pub async fn build_with(cfg: Config, rust_hooks: Hooks) -> Result<App, StartError> {
    let plugins = registry(&cfg)?;
    let secret = resolve_secret(&cfg)?;
    let schema = base_schema(&cfg, &plugins, rust_hooks.sets_app_user_id())?;
    let dialect = sql::Dialect::from_url(&cfg.database_url()).unwrap_or(sql::Dialect::Sqlite);
    let schema = Arc::new(laid_out(&cfg, schema, dialect));
    let mut hooks = Hooks::from_config(&cfg.hooks, &schema)?.merge(rust_hooks);
    // In registry order: the webhook outbox's last, so an event carries what the hooks before
    // it wrote (the app's `userId`).
    for p in plugins.iter() {
        if let Some(h) = p.hooks() {
            hooks = hooks.merge(h);
        }
    }
    // The embedded SQLite default migrates itself; shared servers are migrated explicitly.
    let on_schema = if cfg.database_url().starts_with("sqlite:") { OnSchema::Migrate } else { OnSchema::Require };
    let progress = |s: &str| tracing::info!(statement = %s, "migrating");
    let (store, schema, _) = open_store(&cfg, schema, on_schema, progress).await?;
    let store: Store = if hooks.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(HookedStore::new(Arc::new(store), hooks, schema.clone()))
    };
    let base_url = cfg.base_url();
    let mut origins = TrustedOrigins::new(&base_url, &cfg.trusted_origins);
    for origin in plugins.iter().flat_map(|p| p.trusted_origins()) {
        origins.add(&origin);
    }
    let site_url = plugins.iter().find_map(|p| p.site_url());
    let mailer = Mailer::from_config(&cfg)?;
    let (store, mirror) = layer_store(&cfg, store, &schema).await?;
    for p in plugins.iter() {
        p.check_schema(&schema).map_err(StartError::Plugin)?;
    }
    let auth = Arc::new(Auth {
        base_url,
        store,
        schema,
        signer: Signer::new(&secret),
        origins,
        mailer,
        site_url,
        mirror,
        config: cfg,
    });
    Ok(App { auth, plugins })
}

/// Decorates the database: sessions mirrored into secondary storage when configured (shared
/// by every node), else a short-lived local cache (one node's memory).
async fn layer_store(cfg: &Config, db: Store, schema: &Arc<Schema>) -> Result<(Store, Option<Mirror>), StartError> {
    if let Some(url) = &cfg.secondary_storage.url {
        let kv = secondary::open(url).await.map_err(StartError::SecondaryStorage)?;
        let mirror = Mirror::new(kv, schema.clone());
        // No local cache here: another node's revocation must be seen at once.
        return Ok((Arc::new(MirroredStore::new(db, mirror.clone())), Some(mirror)));
    }
    let ttl = cfg.session.local_cache_ttl;
    let store: Store = if ttl > 0 { Arc::new(CachedStore::new(db, Duration::from_secs(ttl))) } else { db };
    Ok((store, None))
}

/// Serves until SIGINT/SIGTERM. `ready` receives the bound address (tests bind port 0).
pub async fn serve(cfg: Config, ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>) -> Result<(), StartError> {
    serve_with(cfg, Hooks::new(), ready).await
}

/// [`serve`] with database hooks written in Rust.
pub async fn serve_with(
    cfg: Config,
    hooks: Hooks,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), StartError> {
    let listen = cfg.listen.clone();
    let built = build_with(cfg, hooks).await?;
    let auth = built.auth.clone();
    let state = built.state()?;
    let app = router(state.clone());
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(source) => return Err(StartError::Listen { addr: listen, source }),
    };
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(%addr, base = %auth.api_url(), "palisade listening");
    let mut background = Vec::new();
    for p in built.plugins.iter() {
        background.extend(p.start(&state).map_err(StartError::Plugin)?);
    }
    if let Some(tx) = ready {
        let _ = tx.send(addr);
    }
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(StartError::Serve);
    // Work under way finishes (webhook deliveries; what is left waits in the outbox).
    for b in background {
        b.stop().await;
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
