//! The adoption policy of gradual migration ([`Hooks::adopt`](super::Hooks::adopt)).

use std::sync::Arc;

use async_trait::async_trait;

use super::{APP_USER_ID, Hook, HookCtx, app_user_id, by_id};
use crate::error::ApiError;
use crate::store::{Record, Value};

/// Gradual migration: the app's existing user for a new auth user with the same email. Used
/// at creation (after_create) and again when a deferred user's email is verified.
///
/// Policy: an existing row is adopted only for a verified email. Anyone can sign up with an
/// address they do not own; adopting then would hand them the app user's data. An unverified
/// email with a match gets no app id at all (no new row either) until it is verified: the
/// after_update hook registered with it adopts in the transaction that sets `emailVerified`.
/// A social provider that did not verify the email is refused outright (nothing is written).
pub(super) struct AdoptHook {
    pub(super) find: Arc<dyn Hook>,
    pub(super) create: Option<Arc<dyn Hook>>,
}

enum Adoption {
    /// The app's existing row (verified email).
    Adopted(Record),
    /// No existing row: the create hook's output, if any.
    Created(Option<Record>),
    /// A row exists but the email is not verified: no app id yet.
    Deferred,
}

impl AdoptHook {
    async fn resolve(&self, ctx: HookCtx<'_>) -> Result<Adoption, ApiError> {
        let Some(row) = self.find.run(ctx).await?.filter(|r| app_user_id(r).is_some()) else {
            return Ok(Adoption::Created(match &self.create {
                Some(create) => create.run(ctx).await?,
                None => None,
            }));
        };
        if ctx.record.bool("emailVerified") {
            return Ok(Adoption::Adopted(row));
        }
        if let Some(provider) = &ctx.intent.social_provider {
            tracing::warn!(%provider, "app user not adopted: the provider did not verify the email");
            return Err(ApiError::new(
                403,
                "ACCOUNT_NOT_LINKED",
                "An account with this email exists; the provider did not verify the email",
            ));
        }
        tracing::info!("app user adoption deferred until the email is verified");
        Ok(Adoption::Deferred)
    }
}

#[async_trait]
impl Hook for AdoptHook {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        Ok(match self.resolve(ctx).await? {
            Adoption::Adopted(row) => Some(row),
            Adoption::Created(out) => out,
            Adoption::Deferred => None,
        })
    }
}

/// The user's after_update half of [`AdoptHook`]: when an update verifies the email of a user
/// without an app id, that user gets one (adopted or created) in the update's transaction.
pub(super) struct AdoptOnVerify(pub(super) Arc<AdoptHook>);

#[async_trait]
impl Hook for AdoptOnVerify {
    async fn run(&self, ctx: HookCtx<'_>) -> Result<Option<Record>, ApiError> {
        let verifies = ctx.record.bool("emailVerified") && ctx.old.is_some_and(|o| !o.bool("emailVerified"));
        if !verifies || ctx.record.get(APP_USER_ID).is_some_and(|v| *v != Value::Null) {
            return Ok(None);
        }
        let (out, adopted) = match self.0.resolve(ctx).await? {
            Adoption::Adopted(row) => (Some(row), true),
            Adoption::Created(out) => (out, false),
            Adoption::Deferred => (None, false),
        };
        let Some(app_id) = out.as_ref().and_then(app_user_id) else { return Ok(None) };
        ctx.tx.update("user", &by_id(ctx.record), Record::new().with(APP_USER_ID, app_id)).await?;
        if adopted {
            // Only now, once written: the caller shuts out whoever held the account before.
            ctx.intent.note_adopted();
        }
        Ok(None)
    }
}
