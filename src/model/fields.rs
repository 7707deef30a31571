//! Logical model and field names of Better Auth's core schema (WIRE.md §15.1), in one place.
//! The schema maps them to the configured table and column names.

pub const USER: &str = "user";
pub const SESSION: &str = "session";
pub const ACCOUNT: &str = "account";
pub const VERIFICATION: &str = "verification";

pub const ID: &str = "id";
pub const CREATED_AT: &str = "createdAt";
pub const UPDATED_AT: &str = "updatedAt";
pub const EXPIRES_AT: &str = "expiresAt";
/// The owning user's id (session, account).
pub const USER_ID: &str = "userId";

// user
pub const NAME: &str = "name";
pub const EMAIL: &str = "email";
pub const EMAIL_VERIFIED: &str = "emailVerified";
pub const IMAGE: &str = "image";

// session
pub const TOKEN: &str = "token";
pub const IP_ADDRESS: &str = "ipAddress";
pub const USER_AGENT: &str = "userAgent";

// account
pub const ACCOUNT_ID: &str = "accountId";
pub const PROVIDER_ID: &str = "providerId";
pub const ACCESS_TOKEN: &str = "accessToken";
pub const REFRESH_TOKEN: &str = "refreshToken";
pub const ID_TOKEN: &str = "idToken";
pub const ACCESS_TOKEN_EXPIRES_AT: &str = "accessTokenExpiresAt";
pub const REFRESH_TOKEN_EXPIRES_AT: &str = "refreshTokenExpiresAt";
pub const SCOPE: &str = "scope";
pub const PASSWORD: &str = "password";

// verification
pub const IDENTIFIER: &str = "identifier";
pub const VALUE: &str = "value";
