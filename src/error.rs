//! One error type for the whole crate: Better Auth's `{message, code}` with an HTTP status.
//! Domain code returns it; `http::error` renders it (WIRE.md §1).

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// `None` for the few Better Auth errors that carry no code (WIRE.md §1).
    pub code: Option<Cow<'static, str>>,
    pub message: String,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub fn new(status: u16, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, code: Some(code.into()), message: message.into() }
    }

    pub fn without_code(status: u16, message: impl Into<String>) -> Self {
        Self { status, code: None, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "VALIDATION_ERROR", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "UNAUTHORIZED", "Unauthorized")
    }

    /// A storage failure: logged with its cause, reported without internals.
    pub fn internal(context: &str, err: impl fmt::Display) -> Self {
        tracing::error!(%err, "{context}");
        Self::new(500, "INTERNAL_SERVER_ERROR", "Internal server error")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code.as_deref().unwrap_or("-"), self.message)
    }
}

impl std::error::Error for ApiError {}

/// Better Auth's base error codes used by the core routes (WIRE.md §1 table).
pub mod codes {
    use super::ApiError;

    macro_rules! errors {
        ($($fn_name:ident => ($status:expr, $code:literal, $msg:literal)),* $(,)?) => {
            $(pub fn $fn_name() -> ApiError { ApiError::new($status, $code, $msg) })*
        };
    }

    errors! {
        invalid_json => (400, "BAD_REQUEST", "Invalid JSON in request body"),
        password_too_short => (400, "PASSWORD_TOO_SHORT", "Password too short"),
        password_too_long => (400, "PASSWORD_TOO_LONG", "Password too long"),
        invalid_email => (400, "INVALID_EMAIL", "Invalid email"),
        invalid_password => (400, "INVALID_PASSWORD", "Invalid password"),
        invalid_token => (400, "INVALID_TOKEN", "Invalid token"),
        email_can_not_be_updated => (400, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated"),
        email_already_verified => (400, "EMAIL_ALREADY_VERIFIED", "Email is already verified"),
        email_mismatch => (400, "EMAIL_MISMATCH", "Email mismatch"),
        session_expired => (400, "SESSION_EXPIRED", "Session expired. Re-authenticate to perform this action."),
        credential_account_not_found => (400, "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found"),
        user_not_found => (400, "USER_NOT_FOUND", "User not found"),
        invalid_email_or_password => (401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password"),
        missing_or_null_origin => (403, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin"),
        invalid_origin => (403, "INVALID_ORIGIN", "Invalid origin"),
        invalid_callback_url => (403, "INVALID_CALLBACK_URL", "Invalid callbackURL"),
        invalid_redirect_url => (403, "INVALID_REDIRECT_URL", "Invalid redirectURL"),
        invalid_error_callback_url => (403, "INVALID_ERROR_CALLBACK_URL", "Invalid errorCallbackURL"),
        invalid_new_user_callback_url => (403, "INVALID_NEW_USER_CALLBACK_URL", "Invalid newUserCallbackURL"),
        cross_site_navigation => (403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked. This request appears to be a CSRF attack."),
        session_not_fresh => (403, "SESSION_NOT_FRESH", "Session is not fresh"),
        email_not_verified => (403, "EMAIL_NOT_VERIFIED", "Email not verified"),
        user_already_exists => (422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email."),
        failed_to_create_user => (422, "FAILED_TO_CREATE_USER", "Failed to create user"),
        defer_session_required => (405, "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED", "POST method requires deferSessionRefresh to be enabled in session config"),
    }
}
