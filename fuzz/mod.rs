//! Fuzz targets over Palisade's input edges, shared by the stable driver (`examples/fuzz.rs`)
//! and the libFuzzer crate (`fuzz/Cargo.toml`). Each target takes its choices from a [`Gen`]:
//! it builds a valid input of its kind, edits it, and checks properties of the result.

pub mod app;
pub mod body;
pub mod config;
pub mod cookie_cache;
pub mod cookies;
pub mod generator;
pub mod named;
pub mod routes;
pub mod where_sql;

use generator::Gen;

/// The targets, in the order the driver runs them (`config` first: it sets environment
/// variables, which is sound only before other threads exist).
pub const NAMES: &[&str] = &["config", "cookies", "cookie_cache", "named", "where", "body", "routes"];

/// A target, set up once and run on many inputs.
#[allow(clippy::large_enum_variant, reason = "one of each, made once")]
pub enum Target {
    Config(config::ConfigTarget),
    Cookies(cookies::CookiesTarget),
    CookieCache(cookie_cache::CookieCacheTarget),
    Named(named::NamedTarget),
    Where(where_sql::WhereTarget),
    Body(body::BodyTarget),
    Routes(routes::RoutesTarget),
}

impl Target {
    pub fn new(name: &str) -> Option<Target> {
        Some(match name {
            "config" => Target::Config(config::ConfigTarget::new()),
            "cookies" => Target::Cookies(cookies::CookiesTarget::new()),
            "cookie_cache" => Target::CookieCache(cookie_cache::CookieCacheTarget::new()),
            "named" => Target::Named(named::NamedTarget),
            "where" => Target::Where(where_sql::WhereTarget::new()),
            "body" => Target::Body(body::BodyTarget::new()),
            "routes" => Target::Routes(routes::RoutesTarget::new()),
            _ => return None,
        })
    }

    /// One input: panics when a property does not hold.
    pub fn run(&mut self, g: &mut Gen) {
        match self {
            Target::Config(t) => t.run(g),
            Target::Cookies(t) => t.run(g),
            Target::CookieCache(t) => t.run(g),
            Target::Named(t) => t.run(g),
            Target::Where(t) => t.run(g),
            Target::Body(t) => t.run(g),
            Target::Routes(t) => t.run(g),
        }
    }
}
