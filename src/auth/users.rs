//! Users and their credential accounts: sign-up, profile updates, deletion.

use super::{Auth, RequestMeta, Session, User, sessions};
use crate::crypto::password;
use crate::error::{ApiError, Result, codes};
use crate::model::fields::{EMAIL, EMAIL_VERIFIED, ID, IMAGE, NAME, PASSWORD, PROVIDER_ID, UPDATED_AT, USER_ID};
use crate::model::{Account, NewUser, Row};
use crate::store::{Intent, Ops, Record, StoreError, Value, Where, now};

pub struct SignUp {
    pub name: String,
    pub email: String,
    pub password: String,
    pub image: Option<String>,
    pub remember_me: bool,
    /// Where the verification link sent after sign-up leads (`callbackURL`; default `/`).
    pub callback_url: Option<String>,
    /// Additional fields the client set (validated, `input` not false); the adapter fills in
    /// the defaults of the others.
    pub additional: Record,
}

/// Emails are stored and compared lower-case (WIRE.md §15.2).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn find_by_email(auth: &Auth, email: &str) -> Result<Option<User>> {
    let rec = auth.store.find_one(User::MODEL, &[Where::eq(EMAIL, normalize_email(email))]).await?;
    Ok(User::parse(rec)?)
}

pub async fn find_by_id(auth: &Auth, id: &str) -> Result<Option<User>> {
    Ok(User::parse(auth.store.find_one(User::MODEL, &[Where::eq(ID, id)]).await?)?)
}

pub fn check_password_length(auth: &Auth, pw: &str) -> Result<()> {
    let n = pw.chars().count();
    let cfg = &auth.config.email_and_password;
    if n < cfg.min_password_length {
        return Err(codes::password_too_short());
    }
    if n > cfg.max_password_length {
        return Err(codes::password_too_long());
    }
    Ok(())
}

/// Creates user + credential account + session in one transaction. The password is hashed
/// before the transaction opens, so concurrent sign-ups never wait on each other's scrypt.
pub async fn sign_up(auth: &Auth, input: SignUp, meta: &RequestMeta) -> Result<(User, Option<Session>)> {
    check_password_length(auth, &input.password)?;
    let email = normalize_email(&input.email);
    if find_by_email(auth, &email).await?.is_some() {
        return Err(codes::user_already_exists());
    }
    let hash = password::hash(input.password).await?;
    let at = now();
    // The id comes from the adapter (the configured strategy).
    let mut user = NewUser { name: input.name, email, email_verified: false, image: input.image }.into_record(at);
    user.0.extend(input.additional.0);
    let tx = auth.store.begin().await?;
    let user = match tx.create(User::MODEL, user).await {
        Err(StoreError::Unique(_)) => return Err(codes::user_already_exists()),
        other => User::try_from(other?)?,
    };
    create_credential_account(&*tx, user.id(), &hash).await?;
    // With required verification, sign-up creates no session (Better Auth's behaviour).
    let session = if auth.config.email_and_password.require_email_verification {
        None
    } else {
        Some(sessions::create(auth, &*tx, user.id(), !input.remember_me, meta).await?)
    };
    tx.commit().await?;
    // The user exists now: a link that could not be made is logged, not the sign-up's failure.
    if let Err(e) = super::email::send_after_sign_up(auth, &user, input.callback_url.as_deref()) {
        tracing::error!(error = %e, "verification email after sign-up");
    }
    Ok((user, session))
}

pub async fn create_credential_account(ops: &dyn Ops, user_id: &str, hash: &str) -> Result<Account> {
    let created = ops.create(Account::MODEL, Account::credential_record(user_id, hash, now())).await?;
    Ok(Account::try_from(created)?)
}

/// The user's email/password account, by user id.
fn credential_filter(user_id: &str) -> [Where; 2] {
    [Where::eq(USER_ID, user_id), Where::eq(PROVIDER_ID, Account::CREDENTIAL)]
}

/// The stored hash of the user's email/password account, if any.
pub async fn credential_hash(auth: &Auth, user_id: &str) -> Result<Option<String>> {
    let acc = Account::parse(auth.store.find_one(Account::MODEL, &credential_filter(user_id)).await?)?;
    Ok(acc.and_then(|a| a.password))
}

/// Sets the credential password, creating the credential account when the user has none.
pub async fn set_password(auth: &Auth, user_id: &str, new_password: String) -> Result<()> {
    let hash = password::hash(new_password).await?;
    set_password_hash(&*auth.store, user_id, &hash).await
}

/// [`set_password`] with the hash made, through `ops` (a caller's transaction).
pub async fn set_password_hash(ops: &dyn Ops, user_id: &str, hash: &str) -> Result<()> {
    let data = Record::new().with(PASSWORD, hash).with(UPDATED_AT, now());
    if ops.update_many(Account::MODEL, &credential_filter(user_id), data).await? == 0 {
        create_credential_account(ops, user_id, hash).await?;
    }
    Ok(())
}

/// Checks the user's current password; a user without one never matches.
pub async fn check_password(auth: &Auth, user_id: &str, candidate: String) -> Result<()> {
    let Some(hash) = credential_hash(auth, user_id).await? else {
        password::verify_dummy(candidate).await?;
        return Err(codes::credential_account_not_found());
    };
    // Better Auth refuses an over-long password before hashing it (checked against the reference).
    if candidate.chars().count() > auth.config.email_and_password.max_password_length {
        return Err(codes::password_too_long());
    }
    if password::verify(hash, candidate).await? { Ok(()) } else { Err(codes::invalid_password()) }
}

/// Profile fields a client may change through update-user.
pub struct ProfileUpdate {
    pub name: Option<String>,
    /// `Some(None)` clears the image.
    pub image: Option<Option<String>>,
    /// Additional fields the client set (validated, `input` not false).
    pub additional: Record,
}

pub async fn update_profile(auth: &Auth, user_id: &str, update: ProfileUpdate) -> Result<User> {
    let mut data = Record::new();
    if let Some(name) = update.name {
        data.set(NAME, name);
    }
    if let Some(image) = update.image {
        data.set(IMAGE, Value::from(image));
    }
    data.0.extend(update.additional.0);
    data.set(UPDATED_AT, now());
    let updated = auth.store.update(User::MODEL, &[Where::eq(ID, user_id)], data).await?;
    User::parse(updated)?.ok_or_else(codes::user_not_found)
}

/// What verifying an email did.
pub struct Verified {
    pub user: User,
    /// The verification adopted an existing app user: the sessions made before it were revoked.
    pub adopted: bool,
    /// …and the password set before it was removed (a reset link sets a new one).
    pub password_removed: bool,
}

pub async fn mark_email_verified(auth: &Auth, user_id: &str, email: Option<&str>) -> Result<User> {
    Ok(verify_email(auth, user_id, email).await?.user)
}

/// Marks the email verified (applying a pending change of email), in one transaction with
/// what follows from it. When a user's adoption of an existing app user waited for this
/// (store::hooks), the hooks adopt now; then whoever held the account before the address was
/// proven is shut out: every session is revoked and the password removed. Otherwise someone
/// who signed up with another person's address would keep a way in once its owner verifies.
pub async fn verify_email(auth: &Auth, user_id: &str, email: Option<&str>) -> Result<Verified> {
    let mut data = Record::new().with(EMAIL_VERIFIED, true).with(UPDATED_AT, now());
    if let Some(email) = email {
        data.set(EMAIL, normalize_email(email));
    }
    let intent = Intent::noting_adoption();
    let tx = auth.store.begin_with(&intent).await?;
    let verified = verify_email_in(&*tx, &intent, user_id, data).await?;
    tx.commit().await?;
    Ok(verified)
}

/// [`verify_email`]'s writes through a transaction opened with `intent`
/// ([`Intent::noting_adoption`]); `data` is the user's update.
pub async fn verify_email_in(ops: &dyn Ops, intent: &Intent, user_id: &str, data: Record) -> Result<Verified> {
    let by_id = [Where::eq(ID, user_id)];
    match ops.update(User::MODEL, &by_id, data).await {
        Err(StoreError::Unique(_)) => return Err(codes::user_already_exists()),
        other => other?.ok_or_else(codes::user_not_found)?,
    };
    let adopted = intent.was_adopted();
    let password_removed = if adopted { shut_out(ops, user_id).await? } else { false };
    // Read back: the hooks may have written the app's id after the update.
    let user = User::parse(ops.find_one(User::MODEL, &by_id).await?)?.ok_or_else(codes::user_not_found)?;
    Ok(Verified { user, adopted, password_removed })
}

/// Revokes every session of the user and removes the credential password; returns whether
/// there was a password. Signing in with it then fails as a wrong password does.
async fn shut_out(ops: &dyn Ops, user_id: &str) -> Result<bool> {
    ops.delete_many(Session::MODEL, &[Where::eq(USER_ID, user_id)]).await?;
    let credential = credential_filter(user_id);
    let account = Account::parse(ops.find_one(Account::MODEL, &credential).await?)?;
    let had_password = account.is_some_and(|a| a.password.is_some());
    if had_password {
        let data = Record::new().with(PASSWORD, Value::Null).with(UPDATED_AT, now());
        ops.update_many(Account::MODEL, &credential, data).await?;
    }
    tracing::info!(user_id, had_password, "app user adopted at verification: earlier sessions and password revoked");
    Ok(had_password)
}

/// Deletes the user and every row that belongs to them, in one transaction.
pub async fn delete(auth: &Auth, user_id: &str) -> Result<()> {
    delete_with(auth, user_id, None).await
}

/// Deletes an anonymous user that signed in as `linked_to`: the delete hooks see
/// `linkedUserId` and move the app's rows in the same transaction; a failing hook keeps both.
pub async fn delete_linked(auth: &Auth, user_id: &str, linked_to: &str) -> Result<()> {
    delete_with(auth, user_id, Some(linked_to.to_string())).await
}

async fn delete_with(auth: &Auth, user_id: &str, linked_to: Option<String>) -> Result<()> {
    let user = [Where::eq(ID, user_id)];
    // The app's before_delete runs as the transaction opens, while the user's rows are all
    // still there.
    let intent = Intent { linked_to, ..Intent::deleting(User::MODEL, &user) };
    let tx = auth.store.begin_with(&intent).await?;
    let owned = [Where::eq(USER_ID, user_id)];
    // Every table whose rows belong to the user (sessions, accounts, plugins' tables).
    for model in auth.schema.owned_by_user() {
        tx.delete_many(model, &owned).await?;
    }
    tx.delete(User::MODEL, &user).await?;
    tx.commit().await.map_err(ApiError::from)
}
