//! Outgoing email behind one `Mailer`: SMTP (lettre) for real delivery, a JSON-lines file
//! (`{kind,to,url,token,at}`) for development and the conformance suite.

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
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::ResetPassword => "reset-password",
            EmailKind::VerifyEmail => "verify-email",
            EmailKind::TwoFactorOtp => "two-factor-otp",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            EmailKind::ResetPassword => "Reset your password",
            EmailKind::VerifyEmail => "Verify your email address",
            EmailKind::TwoFactorOtp => "Your sign-in code",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Email {
    pub kind: EmailKind,
    pub to: String,
    pub url: String,
    pub token: String,
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
        let fields = serde_json::json!({ "url": email.url, "token": email.token });
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
        EmailKind::TwoFactorOtp => format!("Your sign-in code is {}\n", email.token),
    }
}

#[async_trait]
impl MailBackend for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse().map_err(MailError::Recipient)?)
            .subject(email.kind.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body_text(email))
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
