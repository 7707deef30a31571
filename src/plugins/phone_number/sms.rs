//! The phone-number plugin's text messages behind one `Sms` sender: a JSON-lines file for
//! development and tests (the mailer's writer, so codes land beside the emails as
//! `{"kind":"phone-otp","to","code","at"}`), or an HTTP gateway that receives
//! `POST {"to","code","message"}` with the configured header.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Config;
use crate::mail::{JsonLines, MailError};

/// `[plugins.phone_number.sms]`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `file` or `http`. Whatever it says, `email.log` (`PALISADE_EMAIL_LOG`) set means the
    /// codes go to that file, as the emails do. Unset and no `email.log`: codes are logged in
    /// development and the server refuses to start in production.
    pub transport: Option<SmsTransport>,
    /// `file`: the JSON-lines file to append to.
    pub path: Option<PathBuf>,
    /// `http`: the gateway's URL; it receives `POST {"to","code","message"}` as JSON.
    pub url: Option<String>,
    /// `http`: the header that authenticates the request (`Authorization`).
    pub auth_header: Option<String>,
    /// `http`: that header's value; better set by `PALISADE_SMS_AUTH`.
    pub auth_value: Option<String>,
    /// The text sent; `{code}` is replaced by the code.
    pub message: String,
    /// `http`: seconds to wait for the gateway.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            transport: None,
            path: None,
            url: None,
            auth_header: None,
            auth_value: None,
            message: "Your verification code is {code}".into(),
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmsTransport {
    File,
    Http,
}

/// A configuration the sender cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum SmsConfigError {
    #[error("plugins.phone_number.sms.{0}: required by transport = \"{1}\"")]
    Missing(&'static str, &'static str),
    #[error("plugins.phone_number.sms.url: {0}")]
    Url(String),
    #[error("plugins.phone_number.sms.auth_header: {0}")]
    Header(String),
    #[error("plugins.phone_number.sms.auth_value (PALISADE_SMS_AUTH): not a valid header value")]
    HeaderValue,
    #[error("plugins.phone_number.sms.auth_value: set without auth_header")]
    ValueWithoutHeader,
    #[error("plugins.phone_number.sms.transport: required in production (no text could be sent)")]
    NoTransport,
    #[error("plugins.phone_number.sms: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why a text was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error(transparent)]
    File(#[from] MailError),
    #[error("gateway: {0}")]
    Request(#[source] reqwest::Error),
    #[error("gateway answered {0}")]
    Status(u16),
}

/// One text: a code for a number.
#[derive(Debug, Clone)]
pub struct Text<'a> {
    /// The line's `kind` in the file (`phone-otp`).
    pub kind: &'static str,
    pub to: &'a str,
    pub code: &'a str,
}

enum Transport {
    File(JsonLines),
    Http {
        client: reqwest::Client,
        url: String,
        auth: Option<(HeaderName, HeaderValue)>,
    },
    /// Development without a transport: the code goes to the log, with a warning.
    Log,
}

pub struct Sms {
    transport: Transport,
    template: String,
}

impl Sms {
    pub fn from_config(cfg: &Config, sms: &SmsConfig) -> Result<Self, SmsConfigError> {
        let transport = match (&cfg.email.log, sms.transport) {
            (Some(path), _) => Transport::File(JsonLines::new(path.clone())),
            (None, Some(SmsTransport::File)) => {
                let path = sms.path.clone().ok_or(SmsConfigError::Missing("path", "file"))?;
                Transport::File(JsonLines::new(path))
            }
            (None, Some(SmsTransport::Http)) => http(sms)?,
            (None, None) if cfg.is_production() => return Err(SmsConfigError::NoTransport),
            (None, None) => Transport::Log,
        };
        Ok(Self { transport, template: sms.message.clone() })
    }

    /// The operator's text with the code in it.
    pub fn message(&self, code: &str) -> String {
        self.template.replace("{code}", code)
    }

    /// Sends and waits: the caller answers only once the text is out (or failed).
    pub async fn send(&self, text: &Text<'_>) -> Result<(), SmsError> {
        match &self.transport {
            Transport::File(lines) => Ok(lines.append(text.kind, text.to, json!({ "code": text.code })).await?),
            Transport::Http { client, url, auth } => {
                let body = json!({ "to": text.to, "code": text.code, "message": self.message(text.code) });
                let mut req = client.post(url).json(&body);
                if let Some((name, value)) = auth {
                    req = req.header(name.clone(), value.clone());
                }
                let res = req.send().await.map_err(SmsError::Request)?;
                if res.status().is_success() { Ok(()) } else { Err(SmsError::Status(res.status().as_u16())) }
            }
            Transport::Log => {
                tracing::warn!(
                    kind = text.kind,
                    to = text.to,
                    code = text.code,
                    "no SMS transport configured; text not sent"
                );
                Ok(())
            }
        }
    }
}

fn http(sms: &SmsConfig) -> Result<Transport, SmsConfigError> {
    let url = sms.url.clone().ok_or(SmsConfigError::Missing("url", "http"))?;
    let parsed = url::Url::parse(&url).map_err(|e| SmsConfigError::Url(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SmsConfigError::Url(format!("{url}: not an http(s) URL")));
    }
    let auth = match (&sms.auth_header, &sms.auth_value) {
        (Some(name), value) => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| SmsConfigError::Header(e.to_string()))?;
            let mut value =
                HeaderValue::from_str(value.as_deref().unwrap_or_default()).map_err(|_| SmsConfigError::HeaderValue)?;
            value.set_sensitive(true);
            Some((name, value))
        }
        (None, Some(_)) => return Err(SmsConfigError::ValueWithoutHeader),
        (None, None) => None,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(sms.timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(SmsConfigError::Client)?;
    Ok(Transport::Http { client, url, auth })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::routing::post;

    use super::*;

    /// A request the gateway received: path, `X-Gateway-Key`, body.
    type Request = (String, Option<String>, serde_json::Value);

    #[derive(Default, Clone)]
    struct Seen(Arc<Mutex<Vec<Request>>>);

    /// A gateway on 127.0.0.1:0 that records each request and answers `status`.
    async fn gateway(status: StatusCode) -> (String, Seen) {
        let seen = Seen::default();
        let record = seen.clone();
        let app = Router::new().route(
            "/{*path}",
            post(move |uri: Uri, headers: HeaderMap, body: axum::Json<serde_json::Value>| {
                let record = record.clone();
                async move {
                    let auth = headers.get("x-gateway-key").and_then(|v| v.to_str().ok()).map(str::to_string);
                    record.0.lock().unwrap().push((uri.path().to_string(), auth, body.0));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn http_config(url: String) -> SmsConfig {
        SmsConfig {
            transport: Some(SmsTransport::Http),
            url: Some(url),
            auth_header: Some("X-Gateway-Key".into()),
            auth_value: Some("sekrit".into()),
            message: "Code: {code}. Do not share it.".into(),
            ..SmsConfig::default()
        }
    }

    #[tokio::test]
    async fn http_gateway_receives_to_code_message_and_the_header() {
        let (base, seen) = gateway(StatusCode::OK).await;
        let sms = Sms::from_config(&Config::default(), &http_config(format!("{base}/v1/sms"))).unwrap();
        sms.send(&Text { kind: "phone-otp", to: "+15550001", code: "123456" }).await.unwrap();
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let (path, auth, body) = &seen[0];
        assert_eq!(path, "/v1/sms");
        assert_eq!(auth.as_deref(), Some("sekrit"));
        assert_eq!(body, &json!({"to": "+15550001", "code": "123456", "message": "Code: 123456. Do not share it."}));
    }

    #[tokio::test]
    async fn http_gateway_failure_is_an_error() {
        let (base, seen) = gateway(StatusCode::INTERNAL_SERVER_ERROR).await;
        let sms = Sms::from_config(&Config::default(), &http_config(format!("{base}/sms"))).unwrap();
        let err = sms.send(&Text { kind: "phone-otp", to: "+1", code: "000000" }).await.unwrap_err();
        assert!(matches!(err, SmsError::Status(500)), "{err}");
        assert_eq!(seen.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn email_log_wins_and_lines_are_the_mailers() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.email.log = Some(dir.path().join("out.jsonl"));
        let sms = Sms::from_config(&cfg, &http_config("http://127.0.0.1:9/".into())).unwrap();
        sms.send(&Text { kind: "phone-otp", to: "+1 555", code: "654321" }).await.unwrap();
        let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["kind", "to", "code", "at"]);
        assert_eq!(
            (line["kind"].as_str(), line["to"].as_str(), line["code"].as_str()),
            (Some("phone-otp"), Some("+1 555"), Some("654321"))
        );
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let cfg = Config::default();
        let missing = SmsConfig { transport: Some(SmsTransport::Http), ..SmsConfig::default() };
        assert!(Sms::from_config(&cfg, &missing).err().unwrap().to_string().contains("sms.url"));
        let bad = SmsConfig { auth_header: Some("bad header".into()), ..http_config("http://x.test/".into()) };
        assert!(Sms::from_config(&cfg, &bad).err().unwrap().to_string().contains("sms.auth_header"));
        let file = SmsConfig { transport: Some(SmsTransport::File), ..SmsConfig::default() };
        assert!(Sms::from_config(&cfg, &file).err().unwrap().to_string().contains("sms.path"));
    }
}
