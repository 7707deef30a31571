//! Integration tests: each starts the real server on port 0 against its own fresh SQLite
//! database and talks HTTP to it. One binary, so the build links once.

mod harness;

mod adoption;
mod anonymous_link;
mod bad_input;
mod cookie_cache;
mod email_smtp;
mod flows;
mod hook_writes;
mod hooks;
mod jwt_algorithms;
mod jwt_convex;
mod jwt_rotation;
mod jwt_support;
mod notes_example;
mod passwordless;
mod phone_number;
mod redirects;
mod resilience;
mod schema;
mod social;
mod transactions;
mod two_factor;
mod webhooks;
mod webhooks_restart;
