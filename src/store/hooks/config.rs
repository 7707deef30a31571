//! `[hooks.<model>]` in palisade.toml: SQL per event, turned into [`Hooks`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::sql_hook::SqlHook;
use super::{Event, Hook, Hooks};
use crate::store::Schema;

/// The hooks of one model as configured: SQL per event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelHooksConfig {
    /// `user` only, gradual migration: finds an existing app user for the new auth user
    /// (`SELECT id FROM app_users WHERE email = :email`). A row found is adopted (its id becomes
    /// `userId`) instead of running `after_create`, for a verified email only ([`Hooks::adopt`]).
    pub adopt: Option<String>,
    pub before_create: Option<String>,
    pub after_create: Option<String>,
    pub before_update: Option<String>,
    pub after_update: Option<String>,
    pub before_delete: Option<String>,
    pub after_delete: Option<String>,
}

impl ModelHooksConfig {
    pub(super) fn statements(&self) -> [(Event, &Option<String>); 6] {
        [
            (Event::BeforeCreate, &self.before_create),
            (Event::AfterCreate, &self.after_create),
            (Event::BeforeUpdate, &self.before_update),
            (Event::AfterUpdate, &self.after_update),
            (Event::BeforeDelete, &self.before_delete),
            (Event::AfterDelete, &self.after_delete),
        ]
    }
}

pub type HooksConfig = BTreeMap<String, ModelHooksConfig>;

/// Whether the configuration sets the user's after-create hook (which yields `user.userId`).
pub fn config_sets_app_user_id(cfg: &HooksConfig) -> bool {
    cfg.get("user").is_some_and(|h| h.after_create.is_some() || h.adopt.is_some())
}

/// A `[hooks]` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("hooks.{model}: no such model (known: {known})")]
    UnknownModel { model: String, known: String },
    #[error("hooks.{model}.adopt: only the user model adopts existing app rows")]
    AdoptOutsideUser { model: String },
}

impl Hooks {
    /// The SQL hooks of the configuration; every model must exist in `schema`.
    pub fn from_config(cfg: &HooksConfig, schema: &Schema) -> Result<Self, HooksError> {
        let mut hooks = Hooks::new();
        for (model, events) in cfg {
            if schema.model(model).is_err() {
                let known: Vec<_> = schema.models.iter().map(|m| m.name.as_str()).collect();
                return Err(HooksError::UnknownModel { model: model.clone(), known: known.join(", ") });
            }
            let sql_of = |s: &Option<String>| s.as_deref().filter(|s| !s.trim().is_empty()).map(SqlHook::new);
            if let Some(find) = sql_of(&events.adopt) {
                if model != "user" {
                    return Err(HooksError::AdoptOutsideUser { model: model.clone() });
                }
                let create = sql_of(&events.after_create).map(|h| Arc::new(h) as Arc<dyn Hook>);
                hooks = hooks.adopt(find, create);
            }
            for (event, sql) in events.statements() {
                let adopted = event == Event::AfterCreate && events.adopt.is_some();
                if let Some(hook) = sql_of(sql).filter(|_| !adopted) {
                    hooks = hooks.on(model, event, hook);
                }
            }
        }
        Ok(hooks)
    }
}
