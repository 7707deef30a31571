//! Palisade: an authentication server and library that speaks Better Auth's protocol.
//!
//! Use [`app::build`] to get an [`auth::Auth`] from a [`config::Config`], then
//! [`http::router`] to mount it in an axum application, or run `palisade serve`.

pub mod app;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod mail;
pub mod model;
pub mod plugins;
pub mod store;
#[doc(hidden)]
pub mod testing;
pub mod webhooks;
