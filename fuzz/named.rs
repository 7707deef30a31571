//! The `:name` rewriter of configured SQL (src/store/sql/named.rs).
//!
//! Structured inputs are built together with the exact output each dialect must give; edited
//! inputs are checked for what holds of any input: every `:name` becomes exactly one
//! placeholder, and the dialects agree on the names.

use palisade::store::sql::Dialect;
use palisade::store::sql::named::rewrite;

use crate::fuzz::generator::Gen;

const DIALECTS: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

pub struct NamedTarget;

/// An input and what each dialect must make of it.
#[derive(Default)]
struct Expected {
    sql: String,
    out: [String; 3],
    /// Distinct names in first-use order (SQLite, PostgreSQL), every use (MySQL).
    distinct: Vec<String>,
    uses: Vec<String>,
    /// The last piece was a `:name`: a name character next would extend it.
    after_param: bool,
}

impl Expected {
    fn verbatim(&mut self, s: &str) {
        self.sql.push_str(s);
        self.out.iter_mut().for_each(|o| o.push_str(s));
        self.after_param = false;
    }

    fn param(&mut self, name: String) {
        self.sql.push(':');
        self.sql.push_str(&name);
        let n = match self.distinct.iter().position(|x| *x == name) {
            Some(p) => p + 1,
            None => {
                self.distinct.push(name.clone());
                self.distinct.len()
            }
        };
        self.out[0].push_str(&format!("?{n}"));
        self.out[1].push_str(&format!("${n}"));
        self.out[2].push('?');
        self.uses.push(name);
        self.after_param = true;
    }
}

impl NamedTarget {
    pub fn run(&mut self, g: &mut Gen) {
        let e = structured(g);
        if g.chance(3) {
            let edited = g.mutate(&e.sql);
            check_invariants(&edited);
        } else {
            for (d, want) in DIALECTS.iter().zip(&e.out) {
                let (got, names) = rewrite(*d, &e.sql);
                assert_eq!(&got, want, "{d:?} rewrite of {:?}", e.sql);
                let want_names = if *d == Dialect::Mysql { &e.uses } else { &e.distinct };
                assert_eq!(&names, want_names, "{d:?} names of {:?}", e.sql);
            }
            check_invariants(&e.sql);
        }
    }
}

/// SQL made of pieces the rewriter must treat differently.
fn structured(g: &mut Gen) -> Expected {
    let mut e = Expected::default();
    let names: Vec<String> = (0..1 + g.below(4)).map(|_| g.ident(6)).collect();
    for _ in 0..g.len(16) {
        let after_param = e.after_param;
        match g.below(9) {
            0 | 1 => {
                if after_param {
                    e.verbatim(" ");
                }
                let name = g.pick(&names).clone();
                e.param(name);
            }
            2 => {
                let q = *g.pick(&['\'', '"', '`']);
                let mut s = String::from(q);
                for _ in 0..g.len(6) {
                    match g.below(4) {
                        0 => s.extend([q, q]),
                        1 => s.push_str(&format!(":{}", g.ident(4))),
                        2 => s.push_str(g.pick_str(&["--", "/*", "::", "?", "$1", "\n"])),
                        _ => s.push_str(&g.text(6).replace(q, "")),
                    }
                }
                s.push(q);
                e.verbatim(&s);
            }
            3 => {
                let body = g.text(12).replace('\n', " ");
                e.verbatim(&format!("-- {body} :{}\n", g.ident(3)));
            }
            4 => {
                let mut body = g.text(12);
                while body.contains("*/") {
                    body = body.replace("*/", "");
                }
                e.verbatim(&format!("/* {body} :{} */", g.ident(3)));
            }
            5 => e.verbatim(g.pick_str(&["::int", "::text", "::jsonb", ": ", ":1", ":,", ":\n"])),
            6 if !after_param => e.verbatim(g.pick_str(&["SELECT", "id", "FROM t", "WHERE", "x1", "é"])),
            _ => e.verbatim(g.pick_str(&[" ", ", ", "(", ")", " = ", " < ", "\n", "+", ";", "$", "?", " $2 "])),
        }
    }
    e
}

/// What holds of any input: one placeholder per use, names that are names, dialects agreeing.
fn check_invariants(sql: &str) {
    let (lite, lite_names) = rewrite(Dialect::Sqlite, sql);
    let (pg, pg_names) = rewrite(Dialect::Postgres, sql);
    let (my, my_names) = rewrite(Dialect::Mysql, sql);
    let is_name = |n: &String| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    assert!(my_names.iter().all(is_name), "{my_names:?}");
    let mut distinct: Vec<String> = Vec::new();
    for n in &my_names {
        if !distinct.contains(n) {
            distinct.push(n.clone());
        }
    }
    assert_eq!(pg_names, distinct, "PostgreSQL binds each name once, in first-use order");
    assert_eq!(lite_names, distinct, "SQLite binds each name once, in first-use order");
    let count = |s: &str, c: char| s.chars().filter(|x| *x == c).count();
    let uses = my_names.len();
    assert_eq!(count(&my, '?'), count(sql, '?') + uses, "MySQL: one `?` per use in {sql:?}");
    assert_eq!(count(&lite, '?'), count(sql, '?') + uses, "SQLite: one `?N` per use in {sql:?}");
    assert_eq!(count(&pg, '$'), count(sql, '$') + uses, "PostgreSQL: one `$N` per use in {sql:?}");
    // Nothing else changes: removing the placeholders and the `:name`s leaves the same text.
    assert_eq!(count(&my, ':') + uses, count(sql, ':'), "MySQL: only the colons of names go in {sql:?}");
}
