//! Reading the layers: defaults < `palisade.toml` < environment.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::Config;

/// A configuration that cannot be read; names the key, variable or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("configuration file {} does not exist", .0.display())]
    NoFile(PathBuf),
    #[error(
        "cannot read the environment variable(s) {}: a quoted value with a `\\` escape after a non-ASCII \
         character (write the character itself instead of an escape)",
        .0.join(", ")
    )]
    UnreadableEnv(Vec<String>),
    /// Unknown or ill-typed keys, each named with where it came from (figment's words).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{var} is set but there is no [social_providers.{id}]")]
    StraySocialSecret { var: String, id: String },
}

/// Plain environment variables with fixed names (PRODUCT.md "Operating interface").
const PLAIN_ENV: &[(&str, &str)] = &[
    ("PALISADE_LISTEN", "listen"),
    ("BASE_URL", "base_url"),
    ("BETTER_AUTH_SECRET", "secret"),
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "secondary_storage.url"),
    ("PALISADE_ENV", "env"),
    ("PALISADE_EMAIL_LOG", "email.log"),
    ("PALISADE_JWKS", "plugins.jwt.jwks"),
    ("PALISADE_ADMIN_KEY", "admin_key"),
    ("PALISADE_SMS_AUTH", "plugins.phone_number.sms.auth_value"),
];

/// The environment variable that sets `key` (a dotted path): its plain name, else
/// `PALISADE_<SECTION>__<KEY>`.
pub fn env_var(key: &str) -> String {
    match PLAIN_ENV.iter().find(|(_, k)| *k == key) {
        Some((var, _)) => (*var).to_string(),
        None => format!("PALISADE_{}", key.replace('.', "__").to_ascii_uppercase()),
    }
}

/// The provider part of `PALISADE_SOCIAL_<ID>_CLIENT_SECRET`.
fn social_secret_var(var: &str) -> Option<&str> {
    let id = var.strip_prefix("PALISADE_SOCIAL_")?.strip_suffix("_CLIENT_SECRET")?;
    (!id.is_empty() && !id.contains("__")).then_some(id)
}

/// The environment over `fig`: `PALISADE_<SECTION>__<KEY>`, then the plain variables.
fn merge_env(mut fig: Figment) -> Figment {
    let plain: Vec<&str> = PLAIN_ENV.iter().map(|(v, _)| *v).collect();
    fig = fig.merge(
        Env::prefixed("PALISADE_")
            .filter(move |k| {
                let full = format!("PALISADE_{}", k.as_str().to_ascii_uppercase());
                !plain.contains(&full.as_str())
                    && !["CONFIG", "LOG"].contains(&k.as_str().to_ascii_uppercase().as_str())
                    && social_secret_var(&full).is_none()
            })
            .split("__"),
    );
    for (var, key) in PLAIN_ENV {
        fig = fig.merge(Env::raw().only(&[*var]).map(move |_| (*key).into()));
    }
    fig
}

/// The error for environment values figment cannot read, naming the variables.
fn unreadable_env() -> LoadError {
    let read = |k: &str| k.starts_with("PALISADE_") || PLAIN_ENV.iter().any(|(v, _)| *v == k);
    let suspects: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| read(k) && v.contains('\\') && !v.is_ascii())
        .map(|(k, _)| k)
        .collect();
    LoadError::UnreadableEnv(suspects)
}

impl Config {
    /// Loads defaults < `file` (if given and present, or `./palisade.toml`) < environment.
    /// Besides the plain variables, `PALISADE_<SECTION>__<KEY>` sets any key, e.g.
    /// `PALISADE_RATE_LIMIT__ENABLED=true`.
    pub fn load(file: Option<&Path>) -> Result<Config, LoadError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(LoadError::NoFile(path.to_path_buf()));
            }
            Some(path) => fig = fig.merge(Toml::file_exact(path)),
            None if Path::new("palisade.toml").exists() => fig = fig.merge(Toml::file_exact("palisade.toml")),
            None => {}
        }
        // figment 0.10 panics on a quoted environment value with a `\` after a non-ASCII
        // character (it slices at a character index): an operator's error, not a crash.
        let fig = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || merge_env(fig)))
            .map_err(|_| unreadable_env())?;
        let mut cfg =
            fig.extract::<Config>().map_err(|e| LoadError::Invalid(e.into_iter().map(|e| e.to_string()).collect()))?;
        cfg.apply_social_secrets(std::env::vars())?;
        Ok(cfg)
    }

    /// `PALISADE_SOCIAL_<ID>_CLIENT_SECRET` sets the secret of `[social_providers.<id>]`
    /// (id upper-cased, `-` as `_`); one for a provider that is not configured is an error.
    /// The section stays as read (the social plugin parses it); a provider that is not a
    /// table is left for that parse to report.
    fn apply_social_secrets(&mut self, vars: impl Iterator<Item = (String, String)>) -> Result<(), LoadError> {
        for (var, value) in vars {
            let Some(id) = social_secret_var(&var) else { continue };
            let provider = self
                .social_providers
                .as_object_mut()
                .and_then(|providers| {
                    providers.iter_mut().find(|(k, _)| k.to_ascii_uppercase().replace('-', "_") == id)
                })
                .ok_or_else(|| LoadError::StraySocialSecret { var: var.clone(), id: id.to_lowercase() })?;
            if let Some(table) = provider.1.as_object_mut() {
                table.insert("client_secret".into(), value.into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[session]\nexpires_inn = 5\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("expires_inn"), "{err}");
        assert!(err.contains("p.toml"), "{err}");
    }

    #[test]
    fn social_secret_from_environment() {
        let providers = serde_json::json!({ "my-idp": { "client_id": "c" } });
        let mut cfg = Config { social_providers: providers, ..Config::default() };
        let vars = [("PALISADE_SOCIAL_MY_IDP_CLIENT_SECRET".to_string(), "s3".to_string())];
        cfg.apply_social_secrets(vars.into_iter()).unwrap();
        assert_eq!(cfg.social_providers["my-idp"]["client_secret"], "s3");
        let stray = [("PALISADE_SOCIAL_NOPE_CLIENT_SECRET".to_string(), "x".to_string())];
        assert!(cfg.apply_social_secrets(stray.into_iter()).unwrap_err().to_string().contains("social_providers.nope"));
    }

    #[test]
    fn ill_typed_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[rate_limit]\nenabled = \"yes\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("rate_limit.enabled"), "{err}");
    }
}
