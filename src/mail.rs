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
    async fn send(&self, email: &Email) -> Result<(), String>;
}

/// Appends one JSON object per message to a file.
pub struct FileMailer {
    path: PathBuf,
    lock: Mutex<()>,
}

#[async_trait]
impl MailBackend for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), String> {
        let line = serde_json::json!({
            "kind": email.kind.as_str(),
            "to": email.to,
            "url": email.url,
            "token": email.token,
            "at": crate::store::iso(&crate::store::now()),
        });
        let _guard = self.lock.lock().await;
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        f.write_all(format!("{line}\n").as_bytes()).await.map_err(|e| e.to_string())
    }
}

/// Real delivery over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpMailer {
    pub fn new(cfg: &SmtpConfig) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.url)
            .map_err(|e| format!("email.smtp.url: {e}"))?
            .build();
        let from = cfg.from.parse().map_err(|e| format!("email.smtp.from: {e}"))?;
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
    async fn send(&self, email: &Email) -> Result<(), String> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse().map_err(|e| format!("recipient: {e}"))?)
            .subject(email.kind.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body_text(email))
            .map_err(|e| e.to_string())?;
        self.transport.send(msg).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Development without a configured mailer: the link goes to the log, with a warning.
struct LogMailer;

#[async_trait]
impl MailBackend for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), String> {
        tracing::warn!(kind = email.kind.as_str(), to = %email.to, url = %email.url, "no mailer configured; email not sent");
        Ok(())
    }
}

/// Production without a configured mailer: nothing is sent and nothing secret is logged.
struct DisabledMailer;

#[async_trait]
impl MailBackend for DisabledMailer {
    async fn send(&self, email: &Email) -> Result<(), String> {
        Err(format!("no mailer configured; {} email to {} dropped", email.kind.as_str(), email.to))
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

    pub fn from_config(cfg: &Config) -> Result<Self, String> {
        let backend: Arc<dyn MailBackend> = match (&cfg.email.log, &cfg.email.smtp) {
            (Some(path), _) => Arc::new(FileMailer { path: path.clone(), lock: Mutex::new(()) }),
            (None, Some(smtp)) => Arc::new(SmtpMailer::new(smtp)?),
            (None, None) if cfg.is_production() => {
                tracing::warn!("no mailer configured ([email.smtp]); emails will not be sent");
                Arc::new(DisabledMailer)
            }
            (None, None) => Arc::new(LogMailer),
        };
        Ok(Self { backend })
    }

    pub async fn send(&self, email: &Email) -> Result<(), String> {
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
