//! Request input: JSON or form bodies, and Better Auth's validation messages
//! (`[body.field] Invalid input: expected string, received undefined`, WIRE.md §1).

use axum::body::Body as HttpBody;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value as Json};

use super::AppState;
use crate::error::{ApiError, codes};
use crate::store::schema::{Field, FieldType, Model, value_from_json};
use crate::store::{Record, Value};

/// A parsed request body: `None` when the request had none.
pub struct Body(pub Option<Map<String, Json>>);

/// Parses the body; the shape is checked later by [`Fields`] so all issues are reported.
pub struct RawBody(pub Option<Json>);

/// The body as [`read_body`] parsed it before the origin and URL checks; the handler's
/// [`RawBody`] takes it from the request's extensions.
#[derive(Clone)]
pub struct ParsedBody(pub Option<Json>);

fn unsupported(ct: &str, form: bool) -> ApiError {
    let allowed = if form { "application/x-www-form-urlencoded, application/json" } else { "application/json" };
    ApiError::new(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        format!("Content-Type \"{ct}\" is not allowed. Allowed types: {allowed}"),
    )
}

/// Better Auth takes form bodies only where a browser form or a provider's `form_post` lands.
fn accepts_form(path: &str) -> bool {
    matches!(path, "/sign-in/email" | "/sign-up/email") || path.starts_with("/callback/")
}

/// Reads the body up to `advanced.max_body_bytes` and parses it in Better Auth's order: size,
/// media type (judged only when there is a body), then JSON. A body without a Content-Type
/// is not read at all, as in Better Auth.
async fn parse(headers: &HeaderMap, body: HttpBody, state: &AppState, path: &str) -> Result<Option<Json>, ApiError> {
    // Read lossily: a media type with non-ASCII bytes is still a media type, and not JSON.
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let bytes = axum::body::to_bytes(body, state.auth.config.advanced.max_body_bytes)
        .await
        .map_err(|_| ApiError::new(413, "PAYLOAD_TOO_LARGE", "Request body is too large"))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let form = accepts_form(path);
    let form = match ct.as_deref() {
        None => return Ok(None),
        Some("application/json") => false,
        Some("application/x-www-form-urlencoded") if form => true,
        Some(other) => return Err(unsupported(other, form)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if form {
        let map: Map<String, Json> =
            url::form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), Json::String(v.into_owned()))).collect();
        return Ok(Some(Json::Object(map)));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|_| codes::invalid_json())
}

/// Parses the body of `req` (see [`parse`]) and hands back the request with the parsed body
/// in its extensions, so the checks that come before the handler can read it.
pub async fn read_body(req: Request, state: &AppState) -> Result<Request, ApiError> {
    let (parts, body) = req.into_parts();
    let parsed = parse(&parts.headers, body, state, parts.uri.path()).await?;
    let mut req = Request::from_parts(parts, HttpBody::empty());
    req.extensions_mut().insert(ParsedBody(parsed));
    Ok(req)
}

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(mut req: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ParsedBody(parsed)) = req.extensions_mut().remove::<ParsedBody>() {
            return Ok(RawBody(parsed));
        }
        let (parts, body) = req.into_parts();
        parse(&parts.headers, body, state, parts.uri.path()).await.map(RawBody)
    }
}

/// JavaScript's truth of a JSON value: Better Auth tests fields with `if (x)` and `a || b`.
pub fn truthy(v: &Json) -> bool {
    match v {
        Json::Null | Json::Bool(false) => false,
        Json::String(s) => !s.is_empty(),
        Json::Number(n) => n.as_f64() != Some(0.0),
        _ => true,
    }
}

/// zod's name for the type of a JSON value.
fn type_name(v: Option<&Json>) -> &'static str {
    match v {
        None => "undefined",
        Some(Json::Null) => "null",
        Some(Json::Bool(_)) => "boolean",
        Some(Json::Number(_)) => "number",
        Some(Json::String(_)) => "string",
        Some(Json::Array(_)) => "array",
        Some(Json::Object(_)) => "object",
    }
}

/// zod's name for what a field of type `ty` expects.
fn type_label(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::Json => "json",
        FieldType::StringArray | FieldType::NumberArray => "array",
    }
}

/// Reads typed fields out of a body (or query), collecting every issue like zod does.
pub struct Fields {
    scope: &'static str,
    map: Map<String, Json>,
    issues: Vec<String>,
}

impl Fields {
    /// The body must be an object (`[body] Invalid input: expected object, received …`).
    pub fn body(raw: RawBody) -> Result<Fields, ApiError> {
        match raw.0 {
            Some(Json::Object(map)) => Ok(Fields { scope: "body", map, issues: Vec::new() }),
            other => Err(ApiError::validation(format!(
                "[body] Invalid input: expected object, received {}",
                type_name(other.as_ref())
            ))),
        }
    }

    /// An optional body: absent is treated as `{}`.
    pub fn optional_body(raw: RawBody) -> Result<Fields, ApiError> {
        match raw.0 {
            None => Ok(Fields { scope: "body", map: Map::new(), issues: Vec::new() }),
            some => Fields::body(RawBody(some)),
        }
    }

    pub fn query(params: Vec<(String, String)>) -> Fields {
        let map = params.into_iter().map(|(k, v)| (k, Json::String(v))).collect();
        Fields { scope: "query", map, issues: Vec::new() }
    }

    fn issue(&mut self, key: &str, msg: String) {
        self.issues.push(format!("[{}.{key}] {msg}", self.scope));
    }

    fn expected(&mut self, key: &str, ty: &str) {
        let got = type_name(self.map.get(key));
        self.issue(key, format!("Invalid input: expected {ty}, received {got}"));
    }

    /// Present with a value JavaScript counts as true.
    pub fn has_truthy(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(truthy)
    }

    pub fn string(&mut self, key: &str) -> String {
        match self.map.get(key) {
            Some(Json::String(s)) => s.clone(),
            _ => {
                self.expected(key, "string");
                String::new()
            }
        }
    }

    /// A required string of at least one character (`z.string().min(1)`).
    pub fn non_empty_string(&mut self, key: &str) -> String {
        let s = self.string(key);
        if matches!(self.map.get(key), Some(Json::String(v)) if v.is_empty()) {
            self.issue(key, "Too small: expected string to have >=1 characters".into());
        }
        s
    }

    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        match self.map.get(key) {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => {
                self.expected(key, "string");
                None
            }
        }
    }

    /// A string that may also be `null` (e.g. `image` on update-user).
    pub fn nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.map.get(key) {
            Some(Json::Null) => Some(None),
            _ => self.opt_string(key).map(Some),
        }
    }

    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.map.get(key) {
            None => None,
            Some(Json::Bool(b)) => Some(*b),
            Some(_) => {
                self.expected(key, "boolean");
                None
            }
        }
    }

    /// A required value out of `options` (`z.enum`): anything else, absent included, is
    /// `Invalid option: expected one of "a"|"b"`. Returns the matching option.
    pub fn one_of(&mut self, key: &str, options: &[&'static str]) -> Option<&'static str> {
        let found = match self.map.get(key) {
            Some(Json::String(s)) => options.iter().find(|o| **o == s.as_str()).copied(),
            _ => None,
        };
        if found.is_none() {
            let list: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
            self.issue(key, format!("Invalid option: expected one of {}", list.join("|")));
        }
        found
    }

    /// An optional JSON object (`z.record(…).optional()`).
    pub fn opt_object(&mut self, key: &str) -> Option<Map<String, Json>> {
        match self.map.get(key) {
            None => None,
            Some(Json::Object(m)) => Some(m.clone()),
            Some(_) => {
                self.expected(key, "record");
                None
            }
        }
    }

    /// A required email address (`z.email()`).
    pub fn email(&mut self, key: &str) -> String {
        let present = matches!(self.map.get(key), Some(Json::String(_)));
        let s = self.string(key);
        if present && !crate::auth::is_valid_email(&s) {
            self.issue(key, "Invalid email address".into());
        }
        s
    }

    /// The additional fields of `model` a client may set (`input` not false), type-checked;
    /// the others are ignored like any unknown key (WIRE.md §1). On `create`, a required field
    /// without a default must be present.
    pub fn additional(&mut self, model: &Model, create: bool) -> Record {
        let mut out = Record::new();
        for f in model.fields.iter().filter(|f| f.client_settable()) {
            if let Some(v) = self.additional_value(f, create) {
                out.set(&f.name, v);
            }
        }
        out
    }

    fn additional_value(&mut self, f: &Field, create: bool) -> Option<Value> {
        let expected = type_label(f.ty);
        let v = match self.map.get(&f.name) {
            None if create && f.required && f.default.is_none() => {
                self.expected(&f.name, expected);
                return None;
            }
            None => return None,
            Some(Json::Null) if f.required => {
                self.expected(&f.name, expected);
                return None;
            }
            Some(Json::Null) => return Some(Value::Null),
            Some(v) => v,
        };
        match value_from_json(f.ty, v) {
            Ok(value) => Some(value),
            Err(m) => {
                let (key, got) = match m.index {
                    Some(i) => (format!("{}.{i}", f.name), type_name(v.get(i))),
                    None => (f.name.clone(), type_name(Some(v))),
                };
                self.issue(&key, format!("Invalid input: expected {}, received {got}", m.expected));
                None
            }
        }
    }

    /// Ends validation: every issue, joined with `; `.
    pub fn finish(self) -> Result<(), ApiError> {
        self.finish_with_body().map(drop)
    }

    /// [`Fields::finish`], handing back the whole body (for plugins' own fields).
    pub fn finish_with_body(self) -> Result<Map<String, Json>, ApiError> {
        if self.issues.is_empty() { Ok(self.map) } else { Err(ApiError::validation(self.issues.join("; "))) }
    }
}
