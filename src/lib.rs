//! Palisade: an authentication server and library that speaks Better Auth's protocol.
//!
//! Use [`app::build`] to get an [`app::App`] (the shared [`auth::Auth`] and the enabled
//! plugins) from a [`config::Config`], then [`app::App::router`] to mount it in an axum
//! application, or run `palisade serve`. ARCHITECTURE.md maps the modules.

pub mod app;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod mail;
pub mod model;
pub mod plugins;
pub mod reference;
pub mod store;
#[doc(hidden)]
pub mod testing;
