//! Test support shared by the unit tests and the integration tests (`tests/`), which are
//! different crates: which outside services this run may use, and fresh databases on them.
//! Not part of the library's API.
//!
//! SQLite tests always run. A test that needs a service runs only when the service's
//! variable is set; otherwise it returns early and one line per test group and service says
//! what was skipped and why (`skipped: store suite on PostgreSQL (set TEST_POSTGRES_URL)`).
//! There are no default addresses: an unset variable means the service is not there.
//!
//! | Variable            | Service                                                              |
//! |---------------------|----------------------------------------------------------------------|
//! | `TEST_POSTGRES_URL` | a PostgreSQL server with a `test` database, e.g. `postgres://postgres@127.0.0.1:5432`; the outage test also starts its own server from the installed binaries |
//! | `TEST_MYSQL_URL`    | a MariaDB/MySQL server with a `test` database, e.g. `mysql://root@127.0.0.1:3306` |
//! | `TEST_REDIS_URL`    | a Redis server, e.g. `redis://127.0.0.1:6379`; the outage test also starts its own `redis-server` |
//! | `TEST_AIOSMTPD=1`   | `python3 -m aiosmtpd` works (the SMTP test starts its own server)    |
//! | `TEST_OIDC=1`       | `node` and `tests/oidc/node_modules` (`npm ci` in `tests/oidc`) for the social sign-in tests |
//!
//! `scripts/test.sh` sets all of them.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use crate::store::sql::{Dialect, open};

/// An outside service some tests need, known by the variable that says it is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Mysql,
    Redis,
    Aiosmtpd,
    Oidc,
}

impl Service {
    pub const fn var(self) -> &'static str {
        match self {
            Service::Postgres => "TEST_POSTGRES_URL",
            Service::Mysql => "TEST_MYSQL_URL",
            Service::Redis => "TEST_REDIS_URL",
            Service::Aiosmtpd => "TEST_AIOSMTPD",
            Service::Oidc => "TEST_OIDC",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Mysql => "MariaDB",
            Service::Redis => "Redis",
            Service::Aiosmtpd => "Python's aiosmtpd",
            Service::Oidc => "Node and tests/oidc/node_modules",
        }
    }

    /// The server a dialect's tests need (SQLite needs none).
    pub const fn of(dialect: Dialect) -> Option<Service> {
        match dialect {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(Service::Postgres),
            Dialect::Mysql => Some(Service::Mysql),
        }
    }

    /// The variable's value, when set and not empty.
    pub fn value(self) -> Option<String> {
        std::env::var(self.var()).ok().filter(|v| !v.is_empty())
    }
}

/// The variable of `service` when it is set; otherwise says once that `what` was skipped.
pub fn require(service: Service, what: &str) -> Option<String> {
    let value = service.value();
    if value.is_none() {
        skipped(&format!("{what} (needs {}: set {})", service.name(), service.var()));
    }
    value
}

/// Whether `what` can run on `dialect` in this run; says once when it cannot.
pub fn available(dialect: Dialect, what: &str) -> bool {
    let Some(service) = Service::of(dialect) else { return true };
    let set = service.value().is_some();
    if !set {
        skipped(&format!("{what} on {} (set {})", service.name(), service.var()));
    }
    set
}

/// The dialects `what` runs on in this run: SQLite, and each server whose variable is set.
pub fn dialects(what: &str) -> Vec<Dialect> {
    [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql].into_iter().filter(|d| available(*d, what)).collect()
}

/// The URL of a new, empty database on `dialect`'s server (`None` for SQLite, whose file is
/// the test's own). Check [`available`] first: an unset variable here is a bug in the test.
pub async fn fresh_database(dialect: Dialect) -> Option<String> {
    let service = Service::of(dialect)?;
    let server = service
        .value()
        .unwrap_or_else(|| panic!("{} is not set: gate the test with testing::available", service.var()));
    // `palisade_t_` names are dropped by scripts/test.sh before a run.
    let name = format!("palisade_t_{}", crate::crypto::random_id(12).to_lowercase());
    let admin = open(&format!("{server}/test")).await.unwrap_or_else(|e| panic!("{} at {server}: {e}", service.name()));
    admin.execute_raw(&format!("create database {name}")).await.unwrap_or_else(|e| panic!("create database: {e}"));
    admin.close().await;
    Some(format!("{server}/{name}"))
}

/// One line on stderr per message and test binary, past the test harness's capture, so a
/// plain `cargo test` shows what did not run.
fn skipped(message: &str) {
    static SAID: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut said = SAID.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if said.insert(message.to_string()) {
        let _ = std::io::stderr().write_all(format!("skipped: {message}\n").as_bytes());
    }
}
