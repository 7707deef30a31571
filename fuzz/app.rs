//! A whole Palisade (SQLite in a temporary folder) for the targets that need the app state or
//! the router, driven on a single-threaded runtime.

use palisade::config::Config;
use palisade::http::{AppState, router};

pub const SECRET: &str = "fuzz-app-secret-0123456789-abcdefghijklmn";
pub const ORIGIN: &str = "http://localhost:5173";
pub const BASE: &str = "http://localhost:3000";

pub struct App {
    pub rt: tokio::runtime::Runtime,
    pub state: AppState,
    pub router: axum::Router,
    _dir: tempfile::TempDir,
}

impl App {
    pub fn new() -> App {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut cfg = Config {
            listen: "127.0.0.1:0".into(),
            base_url: Some(BASE.into()),
            secret: Some(SECRET.into()),
            data_dir: dir.path().to_path_buf(),
            trusted_origins: vec![ORIGIN.into()],
            ..Default::default()
        };
        cfg.email.log = Some(dir.path().join("emails.jsonl"));
        cfg.set_section(&palisade::plugins::cross_domain::CrossDomainConfig(Some("http://localhost:4000".into())));
        cfg.session.cookie_cache.enabled = true;
        let auth = rt.block_on(palisade::app::build(cfg)).expect("the app builds");
        let state = auth.state().expect("the app state");
        let router = router(state.clone());
        App { rt, state, router, _dir: dir }
    }
}
