//! The configuration reference (`docs/configuration.md`), generated from the configuration
//! types themselves (their JSON Schema, doc comments and defaults), so it cannot drift:
//! `palisade config-reference` prints it and a test compares it with the committed file.

use schemars::Schema;
use serde_json::Value as Json;

use crate::config::{Config, env_var};

/// One key of the reference.
struct Row {
    key: String,
    ty: String,
    default: String,
    env: String,
    meaning: String,
}

/// The whole reference, in Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the configuration types by `palisade config-reference`; do not edit by hand \
         (a unit test fails when this file is out of date).\n\n\
         Every key is read from `palisade.toml` (or `--config FILE`, `PALISADE_CONFIG`), then from the \
         environment: the variable in the table, or `PALISADE_<SECTION>__<KEY>` for any key.\n",
    );
    out.push_str("\n## Core\n\n");
    table(&mut out, "", &schemars::schema_for!(Config));
    for (key, schema) in crate::plugins::section_schemas() {
        out.push_str(&format!("\n## `{key}`\n\n"));
        table(&mut out, key, &schema);
    }
    out
}

fn table(out: &mut String, prefix: &str, schema: &Schema) {
    let root = schema.as_value();
    let mut rows = Vec::new();
    walk(root, root, prefix, None, &mut rows);
    out.push_str("| key | type | default | environment | meaning |\n|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!("| `{}` | {} | {} | {} | {} |\n", r.key, r.ty, r.default, r.env, r.meaning));
    }
}

/// The node a `$ref` points at (`#/$defs/Name`), else the node itself.
fn resolve<'a>(root: &'a Json, node: &'a Json) -> &'a Json {
    let target = node.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix("#/$defs/"));
    match target.and_then(|name| root.get("$defs")?.get(name)) {
        Some(def) => resolve(root, def),
        None => node,
    }
}

/// The non-null alternative of an `Option<T>` (`anyOf: [T, null]`).
fn unwrap_optional<'a>(root: &'a Json, node: &'a Json) -> (&'a Json, bool) {
    if let Some(alts) = node.get("anyOf").and_then(Json::as_array) {
        let some: Vec<&Json> = alts.iter().filter(|a| a.get("type").and_then(Json::as_str) != Some("null")).collect();
        if some.len() == 1 && some.len() < alts.len() {
            return (resolve(root, some[0]), true);
        }
    }
    (resolve(root, node), false)
}

fn walk(root: &Json, node: &Json, key: &str, default: Option<&Json>, rows: &mut Vec<Row>) {
    let (target, _) = unwrap_optional(root, node);
    if let Some(props) = target.get("properties").and_then(Json::as_object) {
        for (name, prop) in props {
            let child = if key.is_empty() { name.clone() } else { format!("{key}.{name}") };
            let child_default = prop.get("default").or_else(|| default.and_then(|d| d.get(name)));
            walk(root, prop, &child, child_default, rows);
        }
        return;
    }
    rows.push(row(root, node, key, default, node.get("description").and_then(Json::as_str)));
    // A table of named entries (`[social_providers.<id>]`): then the keys of one entry.
    let each = target.get("additionalProperties").map(|a| resolve(root, a)).filter(|a| a.get("properties").is_some());
    if let Some(each) = each {
        walk(root, each, &format!("{key}.<id>"), None, rows);
    }
}

fn row(root: &Json, prop: &Json, key: &str, default: Option<&Json>, meaning: Option<&str>) -> Row {
    let (target, optional) = unwrap_optional(root, prop);
    let meaning = meaning.or_else(|| target.get("description").and_then(Json::as_str)).unwrap_or("");
    Row {
        key: key.to_string(),
        ty: type_name(root, target) + if optional { " (optional)" } else { "" },
        default: match default {
            None | Some(Json::Null) => "—".into(),
            Some(v) => format!("`{}`", v.to_string().replace('|', "\\|")),
        },
        env: format!("`{}`", env_var(key)),
        meaning: meaning.replace('\n', " ").replace('|', "\\|"),
    }
}

fn type_name(root: &Json, node: &Json) -> String {
    // Enums: plain `enum`, or `oneOf` alternatives (`const`, or `enum` when documented).
    let alts: Vec<&Json> = match node.get("oneOf").and_then(Json::as_array) {
        Some(alts) => alts.iter().map(|a| resolve(root, a)).collect(),
        None => vec![node],
    };
    let names: Vec<String> = alts
        .iter()
        .flat_map(|a| {
            let one = a.get("const").into_iter();
            let many = a.get("enum").and_then(Json::as_array).into_iter().flatten();
            one.chain(many)
        })
        .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
        .collect();
    if !names.is_empty() {
        return format!("one of {}", names.join(", "));
    }
    match node.get("type") {
        Some(Json::String(t)) if t == "array" => {
            let item = node.get("items").map(|i| type_name(root, resolve(root, i))).unwrap_or_default();
            format!("list of {item}")
        }
        Some(Json::String(t)) if t == "object" => "table".into(),
        Some(Json::String(t)) => t.clone(),
        Some(Json::Array(ts)) => {
            ts.iter().filter_map(Json::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" or ")
        }
        _ => "any".into(),
    }
}

#[cfg(test)]
mod tests {
    /// The committed reference is what the types say; regenerate it with
    /// `cargo run --release -- config-reference > docs/configuration.md`.
    #[test]
    fn committed_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed.trim_end() == super::markdown().trim_end(),
            "docs/configuration.md is out of date: run `cargo run --release -- config-reference > docs/configuration.md`"
        );
    }
}
