//! The core schema of Better Auth (WIRE.md §15.1) plus the tables of enabled plugins.
//! Logical field names are Better Auth's; `column` allows renames (issue: schema config).

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Date,
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub model: String,
    pub field: String,
    pub cascade: bool,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub column: String,
    pub ty: FieldType,
    pub required: bool,
    pub unique: bool,
    pub index: bool,
    pub references: Option<Reference>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub table: String,
    /// `id` first, then the fields in Better Auth's column order.
    pub fields: Vec<Field>,
}

impl Model {
    pub fn field(&self, name: &str) -> Result<&Field, StoreError> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| StoreError::UnknownField { model: self.name.clone(), field: name.to_string() })
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub models: Vec<Model>,
}

/// Which optional tables exist.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plugins {
    pub jwt: bool,
    pub two_factor: bool,
}

struct F(&'static str, FieldType, bool);

fn field(spec: &F) -> Field {
    Field {
        name: spec.0.to_string(),
        column: spec.0.to_string(),
        ty: spec.1,
        required: spec.2,
        unique: false,
        index: false,
        references: None,
    }
}

fn model(name: &str, specs: &[F]) -> Model {
    let mut fields = vec![field(&F("id", FieldType::String, true))];
    fields.extend(specs.iter().map(field));
    Model { name: name.to_string(), table: name.to_string(), fields }
}

fn user_ref(m: &mut Model) {
    if let Some(f) = m.fields.iter_mut().find(|f| f.name == "userId") {
        f.index = true;
        f.references = Some(Reference { model: "user".into(), field: "id".into(), cascade: true });
    }
}

fn mark(m: &mut Model, name: &str, unique: bool, index: bool) {
    if let Some(f) = m.fields.iter_mut().find(|f| f.name == name) {
        f.unique |= unique;
        f.index |= index;
    }
}

impl Schema {
    pub fn better_auth(plugins: Plugins) -> Schema {
        use FieldType::*;
        let mut user = model(
            "user",
            &[
                F("name", String, true),
                F("email", String, true),
                F("emailVerified", Boolean, true),
                F("image", String, false),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
            ],
        );
        mark(&mut user, "email", true, false);
        if plugins.two_factor {
            user.fields.push(field(&F("twoFactorEnabled", Boolean, false)));
        }
        let mut session = model(
            "session",
            &[
                F("expiresAt", Date, true),
                F("token", String, true),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
                F("ipAddress", String, false),
                F("userAgent", String, false),
                F("userId", String, true),
            ],
        );
        mark(&mut session, "token", true, false);
        user_ref(&mut session);
        let mut account = model(
            "account",
            &[
                F("accountId", String, true),
                F("providerId", String, true),
                F("userId", String, true),
                F("accessToken", String, false),
                F("refreshToken", String, false),
                F("idToken", String, false),
                F("accessTokenExpiresAt", Date, false),
                F("refreshTokenExpiresAt", Date, false),
                F("scope", String, false),
                F("password", String, false),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
            ],
        );
        user_ref(&mut account);
        let mut verification = model(
            "verification",
            &[
                F("identifier", String, true),
                F("value", String, true),
                F("expiresAt", Date, true),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
            ],
        );
        mark(&mut verification, "identifier", false, true);
        let mut models = vec![user, session, account, verification];
        if plugins.jwt {
            models.push(model(
                "jwks",
                &[
                    F("publicKey", String, true),
                    F("privateKey", String, true),
                    F("createdAt", Date, true),
                    F("expiresAt", Date, false),
                    F("alg", String, false),
                    F("crv", String, false),
                ],
            ));
        }
        if plugins.two_factor {
            let mut tf = model(
                "twoFactor",
                &[
                    F("secret", String, true),
                    F("backupCodes", String, true),
                    F("userId", String, true),
                    F("verified", Boolean, false),
                    F("failedVerificationCount", Number, false),
                    F("lockedUntil", Date, false),
                ],
            );
            mark(&mut tf, "secret", false, true);
            user_ref(&mut tf);
            models.push(tf);
        }
        Schema { models }
    }

    pub fn model(&self, name: &str) -> Result<&Model, StoreError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| StoreError::Database(format!("unknown model {name}")))
    }
}
