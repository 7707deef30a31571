//! The social sign-in flow (Better Auth's `signInSocial`, `callbackOAuth`,
//! `handleOAuthUserInfo`): start, callback (a link flow's ends in `link`), and sign-in by ID
//! token. Callback failures become redirects to the flow's error URL with Better Auth's
//! `?error=<code>`; nothing here knows HTTP beyond building those URLs.

use super::accounts;
use super::error::{CallbackError, SignInError};
use super::provider::{AuthorizationRequest, Profile, Provider, Tokens};
use super::state::{self, Link, StateData};
use super::{Providers, link, protocol};
use crate::auth::{Auth, RequestMeta, Session, User, email, sessions, users};
use crate::crypto::random_url_safe;
use crate::error::{ApiError, Result};
use crate::model::{NewUser, Row, fields::*};
use crate::store::{Intent, Record, StoreError, Where, now};

pub fn provider_not_found() -> ApiError {
    ApiError::new(404, "PROVIDER_NOT_FOUND", "Provider not found")
}

impl Providers {
    /// The provider by id, or 404 PROVIDER_NOT_FOUND.
    pub fn require(&self, id: &str) -> Result<std::sync::Arc<Provider>> {
        self.get(id).ok_or_else(provider_not_found)
    }
}

/// Where this server receives the provider's answer.
pub fn redirect_uri(auth: &Auth, provider: &Provider) -> String {
    format!("{}/callback/{}", auth.api_url(), provider.id)
}

/// The default error page, `{baseURL}{basePath}/error`.
pub fn default_error_url(auth: &Auth) -> String {
    format!("{}/error", auth.api_url())
}

/// Better Auth's `appendQueryParams`: `error` (and `error_description`) added to a URL.
pub fn with_error(url: &str, code: &str, description: Option<&str>) -> String {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("error", code);
    if let Some(d) = description {
        params.append_pair("error_description", d);
    }
    let query = params.finish();
    let (base, fragment) = url.split_once('#').map_or((url, None), |(b, f)| (b, Some(f)));
    let sep = match base.split_once('?') {
        None => "?",
        Some((_, q)) if q.is_empty() || q.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut out = format!("{base}{sep}{query}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// What the client asked for when starting a flow.
pub struct Start {
    pub callback_url: Option<String>,
    pub error_callback_url: Option<String>,
    pub new_user_callback_url: Option<String>,
    pub scopes: Vec<String>,
    pub login_hint: Option<String>,
    pub request_sign_up: Option<bool>,
    pub link: Option<Link>,
}

/// Stores the state and returns (authorization URL, state for the cookie).
pub async fn start(auth: &Auth, provider: &Provider, req: Start) -> Result<(String, String)> {
    let verifier = random_url_safe(128);
    let nonce = provider.wants_nonce().then(|| random_url_safe(32));
    let data = StateData {
        // Better Auth falls back to its configured base URL.
        callback_url: req.callback_url.unwrap_or_else(|| auth.base_url.clone()),
        code_verifier: verifier.clone(),
        error_url: req.error_callback_url,
        new_user_url: req.new_user_callback_url,
        link: req.link,
        expires_at: 0,
        request_sign_up: req.request_sign_up,
        id_token_nonce: nonce.clone(),
        oauth_state: None,
    };
    let state = state::create(auth, data).await?;
    let url = provider
        .authorization_url(AuthorizationRequest {
            state: &state,
            code_verifier: &verifier,
            redirect_uri: &redirect_uri(auth, provider),
            nonce: nonce.as_deref(),
            extra_scopes: &req.scopes,
            login_hint: req.login_hint.as_deref(),
        })
        .await
        .map_err(|e| ApiError::internal("social provider unavailable", e))?;
    Ok((url, state))
}

/// The provider's answer at `/callback/:id`.
#[derive(Debug, Default)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207 issuer identification.
    pub iss: Option<String>,
}

/// How a callback ends: always a redirect; a session when someone signed in.
pub struct CallbackEnd {
    pub location: String,
    pub signed_in: Option<(Session, User)>,
    /// The state was read: its cookie is expired.
    pub clear_state_cookie: bool,
}

impl CallbackEnd {
    fn error(url: &str, code: &str, description: Option<&str>, clear: bool) -> Self {
        Self { location: with_error(url, code, description), signed_in: None, clear_state_cookie: clear }
    }
}

pub async fn callback(
    auth: &Auth,
    providers: &super::Providers,
    provider_id: &str,
    q: CallbackQuery,
    cookie_state: Option<&str>,
    meta: &RequestMeta,
) -> CallbackEnd {
    let default_error = default_error_url(auth);
    let Some(state_value) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return CallbackEnd::error(&default_error, "state_not_found", None, false);
    };
    let data = match state::consume(auth, state_value, cookie_state).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(code = e.code, provider = provider_id, "oauth callback refused");
            return CallbackEnd::error(e.error_url.as_deref().unwrap_or(&default_error), e.code, None, false);
        }
    };
    let error_url = data.error_url.clone().unwrap_or(default_error);
    let fail = |code: &str, description: Option<&str>| CallbackEnd::error(&error_url, code, description, true);
    if let Some(err) = &q.error {
        return fail(err, q.error_description.as_deref());
    }
    let Some(code) = q.code.as_deref() else { return fail("no_code", None) };
    let Some(provider) = providers.get(provider_id) else { return fail("oauth_provider_not_found", None) };
    let (tokens, profile) = match exchange(auth, &provider, code, q.iss.as_deref(), &data).await {
        Ok(x) => x,
        Err(e) => return fail(&e.to_string(), None),
    };
    if let Some(to) = &data.link {
        return match link::link_account(auth, &provider, to, &profile, &tokens).await {
            Ok(()) => CallbackEnd { location: data.callback_url, signed_in: None, clear_state_cookie: true },
            Err(e) => {
                if let CallbackError::LinkFailed(source) = &e {
                    tracing::error!(error = %source, provider = %provider.id, "linking account");
                }
                fail(&e.to_string(), None)
            }
        };
    }
    if profile.email.is_none() {
        tracing::error!(provider = %provider.id, "the provider returned no email; request its email scope");
        return fail("email_not_found", None);
    }
    let disable_sign_up =
        (provider.disable_implicit_sign_up && data.request_sign_up != Some(true)) || provider.disable_sign_up;
    match sign_in_with_profile(auth, &provider, &profile, &tokens, disable_sign_up, &data.callback_url, meta).await {
        Ok(SignedIn { session, user, is_register }) => {
            let to = if is_register { data.new_user_url.unwrap_or(data.callback_url) } else { data.callback_url };
            CallbackEnd { location: to, signed_in: Some((session, user)), clear_state_cookie: true }
        }
        Err(reason) => {
            reason.log(&provider.id);
            fail(&reason.code(), None)
        }
    }
}

/// Code → tokens → profile, with Better Auth's callback error codes.
async fn exchange(
    auth: &Auth,
    provider: &Provider,
    code: &str,
    iss: Option<&str>,
    data: &StateData,
) -> std::result::Result<(Tokens, Profile), CallbackError> {
    if let (Some(iss), Ok(endpoints)) = (iss, provider.endpoints().await)
        && endpoints.issuer.as_deref().is_some_and(|expected| expected != iss)
    {
        return Err(CallbackError::IssuerMismatch);
    }
    if provider.wants_nonce() && data.id_token_nonce.is_none() {
        return Err(CallbackError::NonceBindingMissing);
    }
    let redirect = redirect_uri(auth, provider);
    let tokens = protocol::exchange_code(provider, code, &data.code_verifier, &redirect).await.map_err(|e| {
        tracing::warn!(provider = %provider.id, error = %e, "authorization code refused");
        CallbackError::InvalidCode(e)
    })?;
    let profile =
        protocol::fetch_profile(provider, &tokens, data.id_token_nonce.as_deref(), true).await.map_err(|e| {
            tracing::warn!(provider = %provider.id, error = %e, "no user info");
            CallbackError::NoUserInfo(e)
        })?;
    Ok((tokens, profile))
}

pub struct SignedIn {
    pub session: Session,
    pub user: User,
    pub is_register: bool,
}

/// Better Auth's `handleOAuthUserInfo`: the account's owner signs in (tokens refreshed); or
/// a user with the same email gets the account linked when the provider vouches for the
/// email (or is trusted) and the local email is verified; or a new user is created with
/// account and session in one transaction. Errors are Better Auth's reasons
/// ("account not linked", …), sent to the client with `_` for spaces.
pub async fn sign_in_with_profile(
    auth: &Auth,
    provider: &Provider,
    profile: &Profile,
    tokens: &Tokens,
    disable_sign_up: bool,
    callback_url: &str,
    meta: &RequestMeta,
) -> std::result::Result<SignedIn, SignInError> {
    let email = users::normalize_email(profile.email.as_deref().unwrap_or_default());
    let linked = accounts::find_by_key(auth, &provider.id, &profile.account_id).await?;
    let existing = match &linked {
        Some(acc) => match users::find_by_id(auth, &acc.user_id).await? {
            Some(u) => Some(u),
            None => return Err(SignInError::UnableToLinkAccount),
        },
        None => users::find_by_email(auth, &email).await?,
    };
    let Some(mut user) = existing else {
        if disable_sign_up {
            return Err(SignInError::SignUpDisabled);
        }
        return create_user(auth, provider, profile, tokens, callback_url, meta).await;
    };
    match &linked {
        Some(acc) => {
            if auth.config.account.update_account_on_sign_in {
                accounts::refresh_stored(auth, &acc.id, tokens, false).await?;
            }
        }
        None => {
            let linking = &auth.config.account.account_linking;
            let trusted = linking.trusted_providers.contains(&provider.id);
            if (!trusted && !profile.email_verified)
                || (linking.require_local_email_verified && !user.email_verified())
                || !linking.enabled
            {
                return Err(SignInError::AccountNotLinked);
            }
            accounts::create(auth, &*auth.store, user.id(), &provider.id, profile, tokens)
                .await
                .map_err(|_| SignInError::UnableToLinkAccount)?;
            if linking.update_user_info_on_link {
                user = update_user_info(auth, provider, &user, profile, false).await?;
            }
        }
    }
    if profile.email_verified && !user.email_verified() && email == user.email() {
        user = users::mark_email_verified(auth, user.id(), None).await?;
    }
    if provider.override_user_info {
        user = update_user_info(auth, provider, &user, profile, true).await?;
    }
    let session = sessions::create(auth, &*auth.store, user.id(), false, meta).await?;
    Ok(SignedIn { session, user, is_register: false })
}

/// A new user from a provider: user, account and session in ONE transaction through the
/// store, so create hooks see it like any other sign-up and nothing half-exists on failure.
async fn create_user(
    auth: &Auth,
    provider: &Provider,
    profile: &Profile,
    tokens: &Tokens,
    callback_url: &str,
    meta: &RequestMeta,
) -> std::result::Result<SignedIn, SignInError> {
    let mut rec = NewUser {
        name: profile.name.clone(),
        email: users::normalize_email(profile.email.as_deref().unwrap_or_default()),
        email_verified: profile.email_verified,
        image: profile.image.clone(),
    }
    .into_record(now());
    for (k, v) in provider.typed_additional(&auth.schema, profile) {
        rec.set(&k, v);
    }
    let created = async {
        // The hooks' adoption policy refuses an email this provider did not verify.
        let tx = auth.store.begin_with(&Intent::social(&provider.id)).await?;
        let user = match tx.create(User::MODEL, rec).await {
            // A race with another sign-up of this email: not the client's to act on.
            Err(StoreError::Unique(_)) => return Err(ApiError::new(500, "FAILED_TO_CREATE_USER", "user exists")),
            other => User::try_from(other?)?,
        };
        accounts::create(auth, &*tx, user.id(), &provider.id, profile, tokens).await?;
        let session = sessions::create(auth, &*tx, user.id(), false, meta).await?;
        tx.commit().await?;
        Ok::<_, ApiError>((user, session))
    }
    .await;
    let (user, session) = created.map_err(|e| match e.code.as_deref() {
        // A database hook's refusal names its reason to the client (e.g. `account_not_linked`).
        Some(code) if e.status < 500 => SignInError::Refused(code.to_string()),
        _ => SignInError::UnableToCreateUser(e),
    })?;
    if !user.email_verified() && email::sends_on_sign_up(auth) {
        let _ = email::send_for_session_user(auth, &user, user.email(), callback_url).await;
    }
    Ok(SignedIn { session, user, is_register: true })
}

/// Copies name, image and mapped fields from the profile (and, on sign-in with
/// `override_user_info_on_sign_in`, the email) onto the user.
pub(super) async fn update_user_info(
    auth: &Auth,
    provider: &Provider,
    user: &User,
    profile: &Profile,
    with_email: bool,
) -> Result<User> {
    let mut data = Record::new().with(NAME, profile.name.clone());
    if let Some(image) = &profile.image {
        data.set(IMAGE, image.clone());
    }
    for (k, v) in provider.typed_additional(&auth.schema, profile) {
        data.set(&k, v);
    }
    if with_email && let Some(email) = &profile.email {
        let email = users::normalize_email(email);
        let verified = if email == user.email() {
            user.email_verified() || profile.email_verified
        } else {
            profile.email_verified
        };
        data.set(EMAIL, email);
        data.set(EMAIL_VERIFIED, verified);
    }
    data.set(UPDATED_AT, now());
    let updated = auth.store.update(User::MODEL, &[Where::eq(ID, user.id())], data).await?;
    Ok(User::parse(updated)?.unwrap_or_else(|| user.clone()))
}

/// `idToken` sign-in and linking: the token the client got from the provider itself.
pub struct IdTokenInput {
    pub token: String,
    pub nonce: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// Verifies a client-supplied ID token (401 INVALID_TOKEN) and reads its profile.
pub async fn verify_client_id_token(provider: &Provider, input: &IdTokenInput) -> Result<(Tokens, Profile)> {
    if !provider.has_id_tokens() {
        return Err(ApiError::new(404, "ID_TOKEN_NOT_SUPPORTED", "id_token not supported"));
    }
    let claims =
        protocol::verify_id_token(provider, &input.token, input.nonce.as_deref(), true).await.map_err(|e| {
            tracing::warn!(provider = %provider.id, error = %e, "invalid id token");
            ApiError::new(401, "INVALID_TOKEN", "Invalid token")
        })?;
    let profile = protocol::profile_from_claims(provider, claims)
        .map_err(|_| ApiError::new(401, "FAILED_TO_GET_USER_INFO", "Failed to get user info"))?;
    if profile.email.is_none() {
        return Err(ApiError::new(401, "USER_EMAIL_NOT_FOUND", "User email not found"));
    }
    let tokens = Tokens {
        access_token: input.access_token.clone(),
        refresh_token: input.refresh_token.clone(),
        id_token: Some(input.token.clone()),
        ..Default::default()
    };
    Ok((tokens, profile))
}

pub async fn sign_in_with_id_token(
    auth: &Auth,
    provider: &Provider,
    input: IdTokenInput,
    request_sign_up: bool,
    callback_url: Option<&str>,
    meta: &RequestMeta,
) -> Result<SignedIn> {
    let (tokens, profile) = verify_client_id_token(provider, &input).await?;
    let disable = (provider.disable_implicit_sign_up && !request_sign_up) || provider.disable_sign_up;
    let callback = callback_url.unwrap_or("/");
    sign_in_with_profile(auth, provider, &profile, &tokens, disable, callback, meta).await.map_err(|reason| {
        reason.log(&provider.id);
        ApiError::new(401, "OAUTH_LINK_ERROR", reason.to_string())
    })
}
