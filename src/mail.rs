//! Outgoing email behind one `Mailer`: SMTP (lettre) for real delivery, a JSON-lines file
//! (`{kind,to,url,token,at}`, or `{kind,to,otp,type,at}` for an e-mailed sign-in code) for
//! development and the conformance suite (its README, "Outgoing messages").

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::config::{Config, SmtpConfig};

/// Why a message was not sent, or a mailer not set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Write(#[source] std::io::Error),
    #[error("email.smtp.url: {0}")]
    SmtpUrl(#[source] lettre::transport::smtp::Error),
    #[error("email.smtp.from: {0}")]
    From(#[source] lettre::address::AddressError),
    #[error("recipient: {0}")]
    Recipient(#[source] lettre::address::AddressError),
    #[error("{0}")]
    Message(#[source] lettre::error::Error),
    #[error("{0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("no mailer configured; {kind} email to {to} dropped")]
    Disabled { kind: &'static str, to: String },
    /// A backend of the application's own (library mode).
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    ResetPassword,
    VerifyEmail,
    TwoFactorOtp,
    /// The magic-link plugin's sign-in link.
    MagicLink,
    /// The email-otp plugin's code; `Email::token` is the code, `Email::otp_type` its purpose.
    EmailOtp,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::ResetPassword => "reset-password",
            EmailKind::VerifyEmail => "verify-email",
            EmailKind::TwoFactorOtp => "two-factor-otp",
            EmailKind::MagicLink => "magic-link",
            EmailKind::EmailOtp => "email-otp",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            EmailKind::ResetPassword => "Reset your password",
            EmailKind::VerifyEmail => "Verify your email address",
            EmailKind::TwoFactorOtp | EmailKind::EmailOtp => "Your sign-in code",
            EmailKind::MagicLink => "Your sign-in link",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Email {
    pub kind: EmailKind,
    pub to: String,
    pub url: String,
    pub token: String,
    /// What an e-mailed code is for (`sign-in`, `email-verification`…): [`EmailKind::EmailOtp`].
    pub otp_type: Option<&'static str>,
    /// Subject and body the sender wrote (a plugin's templates); else the kind's own.
    pub text: Option<Text>,
}

/// A message's subject and plain-text body.
#[derive(Debug, Clone)]
pub struct Text {
    pub subject: String,
    pub body: String,
}

impl Email {
    /// A message of `kind` with the kind's own text.
    pub fn new(kind: EmailKind, to: impl Into<String>, url: impl Into<String>, token: impl Into<String>) -> Self {
        Self { kind, to: to.into(), url: url.into(), token: token.into(), otp_type: None, text: None }
    }

    /// The JSON line the file mailer writes (without `at`).
    fn log_line(&self) -> serde_json::Value {
        match self.kind {
            EmailKind::EmailOtp => serde_json::json!({
                "kind": self.kind.as_str(),
                "to": self.to,
                "otp": self.token,
                "type": self.otp_type.unwrap_or_default(),
            }),
            _ => serde_json::json!({
                "kind": self.kind.as_str(),
                "to": self.to,
                "url": self.url,
                "token": self.token,
            }),
        }
    }
}

/// `template` with each `{name}` of `values` replaced by its value (one pass: a value that
/// itself contains `{…}` is not expanded again); unknown names stay as written.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = after.find('}').and_then(|close| {
            let name = &after[..close];
            values.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v, close))
        });
        match hit {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[async_trait]
pub trait MailBackend: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// A JSON-lines file: one object per line, appended under a lock. The file mailer writes
/// through it, and so do other senders of development messages (the phone-number plugin's
/// texts), so every outgoing message of a test run lands in one file in one format.
pub struct JsonLines {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonLines {
    pub fn new(path: PathBuf) -> Self {
        Self { path, lock: Mutex::new(()) }
    }

    /// Appends `{kind, to, …fields, at}` (`fields` an object; `at` the time of writing).
    pub async fn append(&self, kind: &str, to: &str, fields: serde_json::Value) -> Result<(), MailError> {
        let mut line = serde_json::json!({ "kind": kind, "to": to });
        if let (Some(out), serde_json::Value::Object(more)) = (line.as_object_mut(), fields) {
            out.extend(more);
            out.insert("at".into(), crate::store::iso(&crate::store::now()).into());
        }
        let _guard = self.lock.lock().await;
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|source| MailError::Open { path: self.path.clone(), source })?;
        f.write_all(format!("{line}\n").as_bytes()).await.map_err(MailError::Write)?;
        // tokio hands the bytes to a blocking task: written only once flushed, and a caller
        // that answers after this (a texted code) must find the line in the file.
        f.flush().await.map_err(MailError::Write)
    }
}

/// Appends one JSON object per message to a file.
pub struct FileMailer {
    lines: JsonLines,
}

#[async_trait]
impl MailBackend for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let mut fields = email.log_line();
        if let Some(o) = fields.as_object_mut() {
            o.remove("kind");
            o.remove("to");
        }
        self.lines.append(email.kind.as_str(), &email.to, fields).await
    }
}

/// Real delivery over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpMailer {
    pub fn new(cfg: &SmtpConfig) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.url).map_err(MailError::SmtpUrl)?.build();
        let from = cfg.from.parse().map_err(MailError::From)?;
        Ok(Self { transport, from })
    }
}

fn body_text(email: &Email) -> String {
    match email.kind {
        EmailKind::ResetPassword => format!("Reset your password: {}\n", email.url),
        EmailKind::VerifyEmail => format!("Verify your email address: {}\n", email.url),
        EmailKind::TwoFactorOtp | EmailKind::EmailOtp => format!("Your sign-in code is {}\n", email.token),
        EmailKind::MagicLink => format!("Sign in with this link: {}\n", email.url),
    }
}

#[async_trait]
impl MailBackend for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse().map_err(MailError::Recipient)?)
            .subject(email.text.as_ref().map_or(email.kind.subject(), |t| t.subject.as_str()))
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.as_ref().map_or_else(|| body_text(email), |t| t.body.clone()))
            .map_err(MailError::Message)?;
        self.transport.send(msg).await.map(|_| ()).map_err(MailError::Smtp)
    }
}

/// Development without a configured mailer: the link goes to the log, with a warning.
struct LogMailer;

#[async_trait]
impl MailBackend for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::warn!(kind = email.kind.as_str(), to = %email.to, url = %email.url, "no mailer configured; email not sent");
        Ok(())
    }
}

/// Production without a configured mailer: nothing is sent and nothing secret is logged.
struct DisabledMailer;

#[async_trait]
impl MailBackend for DisabledMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        Err(MailError::Disabled { kind: email.kind.as_str(), to: email.to.clone() })
    }
}

#[derive(Clone)]
pub struct Mailer {
    backend: Arc<dyn MailBackend>,
}

impl Mailer {
    pub fn new(backend: Arc<dyn MailBackend>) -> Self {
        Self { backend }
    }

    pub fn from_config(cfg: &Config) -> Result<Self, MailError> {
        let backend: Arc<dyn MailBackend> = match (&cfg.email.log, &cfg.email.smtp) {
            (Some(path), _) => Arc::new(FileMailer { lines: JsonLines::new(path.clone()) }),
            (None, Some(smtp)) => Arc::new(SmtpMailer::new(smtp)?),
            (None, None) if cfg.is_production() => {
                tracing::warn!("no mailer configured ([email.smtp]); emails will not be sent");
                Arc::new(DisabledMailer)
            }
            (None, None) => Arc::new(LogMailer),
        };
        Ok(Self { backend })
    }

    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.backend.send(email).await
    }

    /// Sends in the background: the response does not wait for (or reveal) delivery.
    pub fn send_later(&self, email: Email) {
        let backend = self.backend.clone();
        tokio::spawn(async move {
            if let Err(e) = backend.send(&email).await {
                tracing::error!(kind = email.kind.as_str(), error = %e, "email delivery failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_templates_once() {
        let v = [("url", "http://x/{otp}"), ("otp", "123")];
        assert_eq!(fill("Go {url} {otp} {nope} {", &v), "Go http://x/{otp} 123 {nope} {");
    }

    #[test]
    fn log_lines_have_the_suite_shape() {
        let mut otp = Email::new(EmailKind::EmailOtp, "a@b.co", "", "123456");
        otp.otp_type = Some("sign-in");
        let keys: Vec<String> = otp.log_line().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["kind", "to", "otp", "type"]);
        assert_eq!(otp.log_line()["type"], "sign-in");
        let link = Email::new(EmailKind::MagicLink, "a@b.co", "http://x", "tok").log_line();
        assert_eq!(link["kind"], "magic-link");
        assert_eq!(link["url"], "http://x");
    }
}
