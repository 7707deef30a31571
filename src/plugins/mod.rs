//! Optional features of Better Auth's plugin set. Bearer tokens live in `http::session`
//! (they only change how a request names its session).

pub mod cross_domain;
pub mod jwt;
pub mod two_factor;
