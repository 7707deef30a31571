//! Signing in by a proven address: the holder of a magic link or of an e-mailed code has shown
//! they read the mailbox (docs/plugins-wire.md §6, §7). Everything runs through the caller's
//! transaction, the one that spent the proof, so a failure leaves the proof unspent and
//! nothing half-made.

use super::users::normalize_email;
use super::{Auth, RequestMeta, Session, User, sessions};
use crate::error::{Result, codes};
use crate::model::fields::{EMAIL, EMAIL_VERIFIED, ID, UPDATED_AT, USER_ID};
use crate::model::{Account, NewUser, Row};
use crate::store::{Ops, Record, StoreError, Where, now};

/// Who proved the address, and what a new user is made of.
pub struct Proven {
    /// As typed; looked up and stored lower-cased.
    pub email: String,
    /// A new user's name (Better Auth: `name || ""`).
    pub name: String,
    pub image: Option<String>,
    /// Additional user fields the client set (validated).
    pub additional: Record,
    /// Whether an unknown address may become a user (`disableSignUp` off).
    pub sign_up: bool,
}

pub struct SignedIn {
    pub user: User,
    pub session: Session,
    /// The user was created by this sign-in.
    pub is_new: bool,
}

/// Finds or creates the address's user and opens a session; `None` when the address is
/// unknown and sign-up is off. An existing user whose address was not verified loses what was
/// made before the proof ([`revoke_unproven_access`]).
pub async fn sign_in(auth: &Auth, ops: &dyn Ops, proven: Proven, meta: &RequestMeta) -> Result<Option<SignedIn>> {
    let email = normalize_email(&proven.email);
    let found = User::parse(ops.find_one(User::MODEL, &[Where::eq(EMAIL, email.as_str())]).await?)?;
    let (user, is_new) = match found {
        Some(user) if user.email_verified() => (user, false),
        Some(user) => (revoke_unproven_access(ops, user.id()).await?, false),
        None if !proven.sign_up => return Ok(None),
        None => {
            let mut rec =
                NewUser { name: proven.name, email, email_verified: true, image: proven.image }.into_record(now());
            rec.0.extend(proven.additional.0);
            let user = match ops.create(User::MODEL, rec).await {
                Err(StoreError::Unique(_)) => return Err(codes::failed_to_create_user()),
                other => User::try_from(other?)?,
            };
            (user, true)
        }
    };
    let session = sessions::create(auth, ops, user.id(), false, meta).await?;
    Ok(Some(SignedIn { user, session, is_new }))
}

/// Better Auth's "revoke unproven access": before an unverified address is proven, whoever
/// signed up with it may not be its owner, so every account (the password included) and every
/// session of the user go, then the address is marked verified. Returns the updated user.
pub async fn revoke_unproven_access(ops: &dyn Ops, user_id: &str) -> Result<User> {
    let owned = [Where::eq(USER_ID, user_id)];
    ops.delete_many(Account::MODEL, &owned).await?;
    ops.delete_many(Session::MODEL, &owned).await?;
    let data = Record::new().with(EMAIL_VERIFIED, true).with(UPDATED_AT, now());
    let updated = ops.update(User::MODEL, &[Where::eq(ID, user_id)], data).await?;
    tracing::info!(user_id, "address proven: accounts and sessions made before the proof revoked");
    User::parse(updated)?.ok_or_else(codes::user_not_found)
}
