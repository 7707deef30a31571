//! `:name` parameters in configured SQL (hooks), rewritten to the dialect's placeholders.
//!
//! Quoted strings, quoted identifiers, comments and PostgreSQL's `::type` casts are left alone,
//! so `':x'`, `"a:b"` and `:id::int` mean what they say.

use super::Dialect;

/// The SQL with placeholders, and the parameter names in binding order.
pub fn rewrite(d: Dialect, sql: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => i = copy_quoted(&chars, i, &mut out),
            '-' if chars.get(i + 1) == Some(&'-') => i = copy_until(&chars, i, "\n", &mut out),
            '/' if chars.get(i + 1) == Some(&'*') => i = copy_until(&chars, i, "*/", &mut out),
            ':' if chars.get(i + 1) == Some(&':') => {
                out.push_str("::");
                i += 2;
            }
            ':' if chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                out.push_str(&placeholder(d, &mut names, name));
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, names)
}

/// PostgreSQL and SQLite number their placeholders, so a name used twice binds once; MySQL
/// has only `?`, so every use binds again.
fn placeholder(d: Dialect, names: &mut Vec<String>, name: String) -> String {
    if d == Dialect::Mysql {
        names.push(name);
        return "?".into();
    }
    let n = match names.iter().position(|x| *x == name) {
        Some(p) => p + 1,
        None => {
            names.push(name);
            names.len()
        }
    };
    if d == Dialect::Postgres { format!("${n}") } else { format!("?{n}") }
}

/// Copies a quoted run (the quote doubled inside escapes it); returns the index after it.
fn copy_quoted(chars: &[char], start: usize, out: &mut String) -> usize {
    let q = chars[start];
    out.push(q);
    let mut i = start + 1;
    while i < chars.len() {
        out.push(chars[i]);
        if chars[i] == q {
            if chars.get(i + 1) == Some(&q) {
                out.push(q);
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

fn copy_until(chars: &[char], start: usize, end: &str, out: &mut String) -> usize {
    let rest: String = chars[start..].iter().collect();
    let len = rest.find(end).map_or(rest.len(), |p| p + end.len());
    out.push_str(&rest[..len]);
    start + rest[..len].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_per_dialect() {
        let sql = "INSERT INTO t (a, b, c) VALUES (:email, ':skip', :email) -- :nope\n RETURNING id::text";
        let (pg, names) = rewrite(Dialect::Postgres, sql);
        assert_eq!(pg, "INSERT INTO t (a, b, c) VALUES ($1, ':skip', $1) -- :nope\n RETURNING id::text");
        assert_eq!(names, ["email"]);
        let (my, names) = rewrite(Dialect::Mysql, "SELECT :a, \"x:y\", `c:d`, :b, :a /* :c */");
        assert_eq!(my, "SELECT ?, \"x:y\", `c:d`, ?, ? /* :c */");
        assert_eq!(names, ["a", "b", "a"]);
        let (lite, names) = rewrite(Dialect::Sqlite, "SELECT :old_name, 'it''s :x', :new_1");
        assert_eq!(lite, "SELECT ?1, 'it''s :x', ?2");
        assert_eq!(names, ["old_name", "new_1"]);
    }
}
