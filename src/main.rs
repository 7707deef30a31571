//! `palisade serve | migrate | generate | keys | webhooks` (PRODUCT.md "Operating interface").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use palisade::app;
use palisade::config::{COMPONENT_SCHEMA, Config, Layout};
use palisade::store::migrate;
use palisade::store::sql::{self, Dialect};

#[derive(Parser)]
#[command(name = "palisade", version, about = "Better Auth-compatible authentication server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the configuration reference (every key, its type, default, environment variable
    /// and meaning) in Markdown, as committed in docs/configuration.md.
    ConfigReference,
    /// Run the server (creates and migrates the embedded SQLite database if needed).
    Serve {
        #[arg(long, env = "PALISADE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Add missing tables, columns and indexes to the database.
    Migrate {
        #[arg(long, env = "PALISADE_CONFIG")]
        config: Option<PathBuf>,
        /// Print what would be done without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the DDL of the configured schema.
    Generate {
        #[arg(long, env = "PALISADE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, default_value = "sqlite")]
        dialect: String,
    },
    /// JWT signing keys.
    Keys {
        #[arg(long, env = "PALISADE_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The webhook outbox: the delivery log, and retrying failed events.
    Webhooks {
        #[arg(long, env = "PALISADE_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: WebhooksAction,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Newest events first, one per line, tab-separated: id, type, endpoint, status, attempts,
    /// last HTTP status, created, next attempt or delivery time, last error.
    List {
        /// pending | delivered | failed
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Makes a failed (or pending) event due now, with a fresh count of attempts.
    Retry { id: String },
}

#[derive(Subcommand)]
enum KeysAction {
    /// List stored keys: kid, alg, created, state (signing, published until…, retired).
    List,
    /// Print the public JWKS (as served at /jwks).
    ExportJwks {
        /// Only the Convex profile's keys (as served at /convex/jwks).
        #[arg(long)]
        convex: bool,
        /// As a `data:` URI, for the `jwks` of a Convex `customJwt` provider.
        #[arg(long)]
        data_uri: bool,
    },
    /// New signing keys now; the old ones stay published until their tokens expire
    /// (plus the grace period). Running servers pick the new keys up within `key_recheck`.
    Rotate,
}

/// Any error, printed as it reads (the edge: nothing here matches on it).
type Error = Box<dyn std::error::Error>;

fn load(config: Option<PathBuf>) -> Result<Config, Error> {
    Ok(Config::load(config.as_deref())?)
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Serve { config } => Ok(app::serve(load(config)?, None).await?),
        Command::Migrate { config, dry_run } => {
            let cfg = load(config)?;
            if dry_run {
                let pool = sql::open(&cfg.database_url()).await.map_err(|e| e.to_string())?;
                let schema = app::schema_for(&cfg, false)?;
                let steps = match app::missing_namespace(&cfg, &pool).await? {
                    // A new schema: everything in it is to be created.
                    Some(create) => [vec![create], migrate::generate(pool.dialect(), &schema)].concat(),
                    None => migrate::plan(&pool, &schema).await.map_err(|e| e.to_string())?,
                };
                print_steps(&steps, "would run");
            } else {
                let (_, _, steps) = app::open_store(
                    &cfg,
                    std::sync::Arc::new(app::schema_for(&cfg, false)?),
                    app::OnSchema::Migrate,
                    |s| out(&format!("applying: {s};")),
                )
                .await?;
                out(&format!("{} change(s) applied; schema is up to date", steps.len()));
            }
            Ok(())
        }
        Command::ConfigReference => {
            out(palisade::reference::markdown().trim_end());
            Ok(())
        }
        Command::Generate { config, dialect } => {
            let d = match dialect.as_str() {
                "sqlite" => Dialect::Sqlite,
                "postgres" | "postgresql" => Dialect::Postgres,
                "mysql" | "mariadb" => Dialect::Mysql,
                other => return Err(format!("unknown dialect {other:?} (sqlite, postgres, mysql)").into()),
            };
            let cfg = load(config)?;
            if cfg.database.layout == Layout::Component && d == Dialect::Postgres {
                let ns = COMPONENT_SCHEMA;
                out(&format!("create schema if not exists {ns};\nset search_path to {ns}, public;"));
            }
            for s in migrate::generate(d, &app::schema_for_dialect(&cfg, false, d)?) {
                out(&format!("{s};"));
            }
            Ok(())
        }
        Command::Keys { config, action } => keys(load(config)?, action).await,
        Command::Webhooks { config, action } => webhooks(load(config)?, action).await,
    }
}

async fn keys(cfg: Config, action: KeysAction) -> Result<(), Error> {
    use palisade::plugins::{self, jwt};
    let built = app::build(cfg).await?;
    let auth = &built.auth;
    let plugin =
        plugins::find::<jwt::JwtPlugin>(&built.plugins).ok_or("the jwt plugin and the convex profile are disabled")?;
    let ring = &plugin.ring;
    let err = |e: palisade::error::ApiError| e.message;
    match action {
        KeysAction::ExportJwks { convex, data_uri } => {
            let issuer = plugin.exported(convex).ok_or("the convex profile is disabled")?;
            let jwks = issuer.jwks(auth).await.map_err(err)?;
            out(&if data_uri { jwt::data_uri(&jwks) } else { jwks.to_string() });
        }
        KeysAction::List => {
            for k in ring.list(auth).await.map_err(err)? {
                let created = k.created_at.map(|d| d.to_rfc3339()).unwrap_or_else(|| "-".into());
                let state = match (k.expires_at, k.published) {
                    (None, _) => "signing".to_string(),
                    (Some(e), _) if e > chrono::Utc::now() => format!("signing until {}", e.to_rfc3339()),
                    (Some(e), true) => format!("published (stopped signing {})", e.to_rfc3339()),
                    (Some(_), false) => "retired".to_string(),
                };
                out(&format!("{}\t{}\t{created}\t{state}", k.kid, k.alg));
            }
        }
        KeysAction::Rotate => {
            for (kid, alg) in ring.rotate(auth).await.map_err(err)? {
                out(&format!("{kid}\t{}\tnew signing key", alg.name()));
            }
        }
    }
    Ok(())
}

async fn webhooks(cfg: Config, action: WebhooksAction) -> Result<(), Error> {
    use palisade::plugins::webhooks::{Status, log};
    let schema = app::schema_with_outbox(&cfg)?;
    let pool = sql::open(&cfg.database_url()).await.map_err(|e| format!("database: {e}"))?;
    let store = sql::SqlStore::new(pool, std::sync::Arc::new(schema));
    let missing = |e: palisade::store::StoreError| {
        format!("{e} (is [webhooks] configured and the schema migrated? `palisade migrate`)")
    };
    match action {
        WebhooksAction::List { status, limit } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(Status::parse(s).ok_or(format!("unknown status {s:?} (pending, delivered, failed)"))?),
            };
            for row in log::list(&store, status, limit).await.map_err(missing)? {
                out(&log::line(&row));
            }
        }
        WebhooksAction::Retry { id } => {
            log::retry(&store, &id).await?;
            out(&format!("{id}\tdue now"));
        }
    }
    Ok(())
}

fn print_steps(steps: &[String], verb: &str) {
    if steps.is_empty() {
        out("schema is up to date");
    }
    for s in steps {
        out(&format!("{verb}: {s};"));
    }
}

/// Prints a line; a closed pipe (`palisade generate | head`) is not an error.
fn out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
