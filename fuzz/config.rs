//! The configuration loader (src/config/load.rs `Config::load`): TOML files and environment
//! variables built from valid configurations (the defaults, the conformance files, the
//! README's examples) with one edit each. Loading never panics, a valid file loads, and an
//! error for an edited or ill-typed key names that key.
//!
//! Sets process environment variables: run only while no other thread reads them.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Toml};
use palisade::config::Config;
use serde_json::{Map, Value as Json};

use crate::fuzz::generator::Gen;

/// The variables `Config::load` reads besides `PALISADE_<SECTION>__<KEY>`.
const PLAIN_ENV: &[&str] = &[
    "PALISADE_LISTEN",
    "BASE_URL",
    "BETTER_AUTH_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "PALISADE_ENV",
    "PALISADE_EMAIL_LOG",
    "PALISADE_JWKS",
    "PALISADE_ADMIN_KEY",
    "PALISADE_SMS_AUTH",
];

pub struct ConfigTarget {
    seeds: Vec<Json>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

/// What one edit lets us expect of an error.
enum Edit {
    /// The error, if any, names this key (a dotted path or a field name).
    Names(String),
    /// No expectation beyond not panicking.
    Any,
    /// Unedited: must load.
    None,
}

impl ConfigTarget {
    pub fn new() -> Self {
        for (var, _) in std::env::vars() {
            if var.starts_with("PALISADE_") || PLAIN_ENV.contains(&var.as_str()) {
                // SAFETY: set up before any other thread of this process exists or reads the environment.
                unsafe { std::env::remove_var(&var) };
            }
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("fuzz.toml");
        let mut texts = vec![
            include_str!("../conformance/default.toml").to_string(),
            include_str!("../conformance/cookie-cache.toml").to_string(),
            include_str!("../conformance/rate-limit.toml").to_string(),
        ];
        texts.extend(readme_toml_blocks(include_str!("../README.md")));
        let mut seeds = vec![serde_json::to_value(Config::default()).expect("the defaults serialize")];
        for t in texts {
            let Ok(v) = Figment::from(Toml::string(&t)).extract::<Json>() else { continue };
            std::fs::write(&path, emit(&v)).expect("write the seed");
            if Config::load(Some(&path)).is_ok() {
                seeds.push(v);
            }
        }
        assert!(seeds.len() >= 4, "too few valid configuration seeds: {}", seeds.len());
        ConfigTarget { seeds, path, _dir: dir }
    }

    pub fn run(&mut self, g: &mut Gen) {
        let mut doc = g.pick(&self.seeds).clone();
        let mut env: Vec<String> = Vec::new();
        let edit = match g.below(8) {
            0 => Edit::None,
            1 | 2 => retype_leaf(g, &mut doc),
            3 => rename_key(g, &mut doc),
            4 => {
                g.mutate_json(&mut doc);
                Edit::Any
            }
            5 | 6 => self.env_edit(g, &doc, &mut env),
            _ => Edit::Any,
        };
        let mut text = emit(&doc);
        let edit = if matches!(edit, Edit::Any) && g.bool() {
            text = g.mutate(&text);
            Edit::Any
        } else {
            edit
        };
        std::fs::write(&self.path, &text).expect("write the file");
        let result = Config::load(Some(&self.path)).map_err(|e| e.to_string());
        for var in env {
            // SAFETY: the fuzz driver runs this target on its only thread.
            unsafe { std::env::remove_var(var) };
        }
        match (edit, result) {
            (Edit::None, r) => assert!(r.is_ok(), "a valid configuration failed: {:?}\n{text}", r.err()),
            (Edit::Names(key), Err(e)) => assert!(names(&e, &key), "the error does not name {key:?}: {e}\n{text}"),
            (_, Err(e)) => assert!(!e.trim().is_empty(), "an empty error"),
            (_, Ok(_)) => {}
        }
    }

    /// `PALISADE_<SECTION>__<KEY>` (or a plain variable) with a value of any shape.
    fn env_edit(&self, g: &mut Gen, doc: &Json, env: &mut Vec<String>) -> Edit {
        let value = match g.below(4) {
            0 => g.json(1).to_string(),
            1 => g
                .pick(&["true", "false", "0", "-1", "1.5", "[1]", "x", "", "{a=1}", "99999999999999999999"])
                .to_string(),
            _ => g.text(20),
        };
        if value.contains('\0') {
            return Edit::Any;
        }
        let (var, key) = if g.chance(4) {
            let var = g.pick(PLAIN_ENV).to_string();
            (var, None)
        } else {
            let path = leaves(doc);
            let Some(p) = (!path.is_empty()).then(|| path[g.below(path.len())].clone()) else { return Edit::Any };
            let var = format!("PALISADE_{}", p.join("__").to_ascii_uppercase());
            // Keys with characters a variable name cannot carry, or the plain ones, are read otherwise.
            let plain = PLAIN_ENV.contains(&var.as_str()) || var == "PALISADE_CONFIG" || var == "PALISADE_LOG";
            let bare = p.iter().all(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            (var, (bare && !plain).then(|| p.join(".")))
        };
        // SAFETY: the fuzz driver runs this target on its only thread.
        unsafe { std::env::set_var(&var, &value) };
        env.push(var);
        key.map_or(Edit::Any, Edit::Names)
    }
}

/// Whether error `e` names dotted `key`: the whole path (in the environment's upper case too),
/// the variable that set it, or, for checks made after parsing (`[schema] model user: additional field role: the
/// default …`), its last two keys.
fn names(e: &str, key: &str) -> bool {
    let tail: Vec<&str> = key.rsplit('.').take(2).collect();
    let var = format!("PALISADE_{}", key.replace('.', "__").to_ascii_uppercase());
    e.contains(key)
        || e.contains(&key.to_ascii_uppercase())
        || e.contains(&var)
        || (tail.len() == 2 && tail.iter().all(|k| e.contains(k)))
}

/// Every path to a scalar or array, as keys.
fn leaves(v: &Json) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    fn walk(v: &Json, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Json::Object(m) => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            Json::Null => {}
            _ => out.push(path.clone()),
        }
    }
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'a>(v: &'a mut Json, path: &[String]) -> Option<&'a mut Json> {
    path.iter().try_fold(v, |node, k| node.as_object_mut()?.get_mut(k))
}

/// A scalar replaced by a value of another type: an error must name its dotted path.
fn retype_leaf(g: &mut Gen, doc: &mut Json) -> Edit {
    let paths = leaves(doc);
    if paths.is_empty() {
        return Edit::Any;
    }
    let p = paths[g.below(paths.len())].clone();
    let Some(node) = node_mut(doc, &p) else { return Edit::Any };
    let new = loop {
        let candidate = match g.below(5) {
            0 => Json::Bool(g.bool()),
            1 => Json::from(g.i64()),
            2 => Json::String(g.text(12)),
            3 => Json::Array(vec![Json::from(1), Json::from(2)]),
            _ => Json::Object(Map::from_iter([("x".to_string(), Json::from(1))])),
        };
        if std::mem::discriminant(&candidate) != std::mem::discriminant(node) {
            break candidate;
        }
    };
    *node = new;
    let bare = p.iter().all(|k| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    if bare { Edit::Names(p.join(".")) } else { Edit::Any }
}

/// A key renamed (a typo) or added: if refused, the error names it.
fn rename_key(g: &mut Gen, doc: &mut Json) -> Edit {
    let mut tables: Vec<Vec<String>> = vec![Vec::new()];
    fn walk(v: &Json, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if let Json::Object(m) = v {
            for (k, child) in m {
                path.push(k.clone());
                if child.is_object() {
                    out.push(path.clone());
                }
                walk(child, path, out);
                path.pop();
            }
        }
    }
    walk(doc, &mut Vec::new(), &mut tables);
    let p = tables[g.below(tables.len())].clone();
    let Some(Json::Object(m)) = node_mut(doc, &p) else { return Edit::Any };
    let new_key = format!("{}{}", g.ident(10), g.pick(&["", "x", "_", "-1"]));
    let value = match m.keys().nth(g.below(m.len().max(1))).cloned() {
        Some(old) if g.bool() => m.remove(&old).unwrap_or(Json::Null),
        _ => g.json(1),
    };
    if value.is_null() || m.contains_key(&new_key) {
        return Edit::Any;
    }
    m.insert(new_key.clone(), value);
    Edit::Names(new_key)
}

/// The TOML for a JSON document: scalars and arrays first, then one `[table]` per object.
pub fn emit(v: &Json) -> String {
    let mut out = String::new();
    if let Json::Object(m) = v {
        emit_table(m, &mut Vec::new(), &mut out);
    }
    out
}

fn emit_table(m: &Map<String, Json>, path: &mut Vec<String>, out: &mut String) {
    for (k, v) in m {
        if !v.is_object() && !v.is_null() {
            out.push_str(&format!("{} = {}\n", key(k), inline(v)));
        }
    }
    for (k, v) in m {
        if let Json::Object(child) = v {
            path.push(key(k));
            out.push_str(&format!("\n[{}]\n", path.join(".")));
            emit_table(child, path, out);
            path.pop();
        }
    }
}

fn key(k: &str) -> String {
    let bare = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { k.to_string() } else { string(k) }
}

/// A TOML basic string: JSON's escapes, plus DEL, which TOML does not allow as it is.
fn string(s: &str) -> String {
    Json::String(s.to_string()).to_string().replace('\u{7f}', "\\u007F")
}

/// A value written inline; JSON's string escapes are TOML's.
fn inline(v: &Json) -> String {
    match v {
        Json::Array(a) => format!("[{}]", a.iter().filter(|x| !x.is_null()).map(inline).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => {
            let pairs: Vec<String> =
                m.iter().filter(|(_, x)| !x.is_null()).map(|(k, x)| format!("{} = {}", key(k), inline(x))).collect();
            format!("{{{}}}", pairs.join(", "))
        }
        Json::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 { format!("{f:.1}") } else { f.to_string() }
        }
        Json::String(s) => string(s),
        other => other.to_string(),
    }
}

/// The ```toml blocks of the README.
fn readme_toml_blocks(readme: &str) -> Vec<String> {
    readme.split("```toml").skip(1).filter_map(|b| b.split("```").next()).map(str::to_string).collect()
}
