//! The choice source every target draws from: a seeded generator for the stable driver, or the
//! bytes libFuzzer hands over (so its mutations of those bytes are mutations of the structure).

use serde_json::{Map, Value as Json};

pub struct Gen<'a> {
    src: Source<'a>,
}

enum Source<'a> {
    /// splitmix64 state: fast, and reproducible from (seed, target, iteration).
    Rng(u64),
    /// libFuzzer's input read as a stream of choices; zeros once it runs out.
    Bytes(&'a [u8], usize),
}

/// Strings that parsers trip on: separators, escapes, encodings, numbers at the edges.
pub const TRICKY: &[&str] = &[
    "",
    " ",
    "\t",
    "\r\n",
    "\n",
    "\0",
    ";",
    "=",
    ",",
    ".",
    "..",
    "%",
    "%2",
    "%zz",
    "%25",
    "%3B",
    "%3D",
    "%00",
    "%C3%A9",
    "%FF",
    "%E2%82",
    "\"",
    "'",
    "`",
    "\\",
    "\\u0000",
    "\\ud800",
    "é",
    "€",
    "😀",
    "\u{202e}",
    "\u{fffd}",
    "\u{feff}",
    "-1",
    "0",
    "01",
    "1e400",
    "-0",
    "9223372036854775808",
    "-9223372036854775809",
    "1.5",
    "NaN",
    "null",
    "true",
    "{}",
    "[]",
    "{\"a\":",
    "__proto__",
    "constructor",
    "__Secure-",
    "better-auth.",
    "session_token",
    "session_data",
    ".0",
    ".99",
    ".100",
    "+1",
    ":",
    "::",
    "?",
    "$1",
    "--",
    "/*",
    "*/",
    "'';",
    "a@b.co",
    "@",
    "http://evil.example",
];

impl<'a> Gen<'a> {
    pub fn seeded(seed: u64) -> Gen<'static> {
        Gen { src: Source::Rng(seed) }
    }

    pub fn from_bytes(data: &'a [u8]) -> Gen<'a> {
        Gen { src: Source::Bytes(data, 0) }
    }

    pub fn next_u64(&mut self) -> u64 {
        match &mut self.src {
            Source::Rng(s) => {
                *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            }
            Source::Bytes(data, pos) => {
                let mut buf = [0u8; 8];
                let rest = &data[(*pos).min(data.len())..];
                let n = rest.len().min(8);
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += 8;
                u64::from_le_bytes(buf)
            }
        }
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    /// A length up to `max`, small ones far more likely.
    pub fn len(&mut self, max: usize) -> usize {
        let cap = self.below(max + 1);
        self.below(cap + 1)
    }

    pub fn i64(&mut self) -> i64 {
        match self.below(6) {
            0 => *self.pick(&[0, 1, -1, i64::MAX, i64::MIN, i64::MAX / 1000, 1 << 53, -(1 << 53)]),
            1 => self.next_u64() as i64,
            _ => self.below(100_000) as i64 - 1_000,
        }
    }

    /// Text from `alphabet`, up to `max` characters.
    pub fn chars_of(&mut self, alphabet: &[u8], max: usize) -> String {
        let n = self.len(max);
        (0..n).map(|_| *self.pick(alphabet) as char).collect()
    }

    pub fn ident(&mut self, max: usize) -> String {
        const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
        const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
        let mut s = String::new();
        s.push(*self.pick(FIRST) as char);
        s.push_str(&self.chars_of(REST, max.saturating_sub(1)));
        s
    }

    /// Any text: plain words, tricky tokens, control and non-ASCII characters, long runs.
    pub fn text(&mut self, max: usize) -> String {
        let mut s = String::new();
        let parts = self.len(8);
        for _ in 0..parts {
            if s.len() >= max {
                break;
            }
            match self.below(7) {
                0 => s.push_str(self.pick_str(TRICKY)),
                1 => s.push(char::from_u32(self.below(0x80) as u32).unwrap_or('?')),
                2 => s.push(char::from_u32(self.below(0x11_0000) as u32).unwrap_or('\u{fffd}')),
                3 if self.chance(20) => s.push_str(&"a".repeat(self.below(5000))),
                _ => s.push_str(&self.chars_of(b"abcdefghijklmnopqrstuvwxyz0123456789-_.", 12)),
            }
        }
        s
    }

    /// One to four edits of `s`: replace, insert, delete, duplicate, truncate, splice a tricky
    /// token. Works on characters, so the result is still a string.
    pub fn mutate(&mut self, s: &str) -> String {
        let mut c: Vec<char> = s.chars().collect();
        for _ in 0..1 + self.below(4) {
            let at = self.below(c.len() + 1);
            match self.below(8) {
                0 if !c.is_empty() => {
                    let i = at.min(c.len() - 1);
                    c[i] = char::from_u32(self.below(0x100) as u32).unwrap_or('x');
                }
                1 => c.splice(at..at, self.pick(TRICKY).chars()).for_each(drop),
                2 if !c.is_empty() => {
                    let end = (at + 1 + self.below(8)).min(c.len());
                    c.drain(at.min(end)..end);
                }
                3 => {
                    let end = (at + 1 + self.below(16)).min(c.len());
                    let dup: Vec<char> = c[at.min(end)..end].to_vec();
                    c.splice(at..at, dup).for_each(drop);
                }
                4 => c.truncate(at),
                5 if !c.is_empty() => {
                    let i = at.min(c.len() - 1);
                    c[i] = *self.pick(&['.', '=', ';', '%', '"', '\\', ' ', '-', '_', '+', '/', 'A', '0', '{', '}']);
                }
                _ => c.splice(at..at, self.text(12).chars()).for_each(drop),
            }
        }
        c.into_iter().collect()
    }

    /// A random JSON value up to `depth` levels deep.
    pub fn json(&mut self, depth: usize) -> Json {
        let kinds = if depth == 0 { 5 } else { 7 };
        match self.below(kinds) {
            0 => Json::Null,
            1 => Json::Bool(self.bool()),
            2 => Json::from(self.i64()),
            3 => serde_json::Number::from_f64(self.i64() as f64 / 7.0).map_or(Json::Null, Json::Number),
            4 => Json::String(self.text(40)),
            5 => Json::Array((0..self.len(4)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.len(4) {
                    let k = if self.bool() { self.ident(8) } else { self.text(10) };
                    m.insert(k, self.json(depth - 1));
                }
                Json::Object(m)
            }
        }
    }

    /// Structure-aware edits of a JSON document: a node swapped for another type, a key
    /// dropped, renamed or added, a string edited, the whole body wrapped or replaced.
    pub fn mutate_json(&mut self, v: &mut Json) {
        for _ in 0..1 + self.below(3) {
            self.mutate_json_once(v, 0);
        }
    }

    fn mutate_json_once(&mut self, v: &mut Json, depth: usize) {
        // Descend into a child most of the time; edit here otherwise.
        let descend = depth < 6 && self.below(3) != 0;
        match v {
            Json::Object(m) if descend && !m.is_empty() => {
                let i = self.below(m.len());
                if let Some((_, child)) = m.iter_mut().nth(i) {
                    return self.mutate_json_once(child, depth + 1);
                }
            }
            Json::Array(a) if descend && !a.is_empty() => {
                let i = self.below(a.len());
                return self.mutate_json_once(&mut a[i], depth + 1);
            }
            _ => {}
        }
        match (self.below(6), &mut *v) {
            (0, Json::Object(m)) if !m.is_empty() => {
                let i = self.below(m.len());
                if let Some(k) = m.keys().nth(i).cloned() {
                    m.remove(&k);
                }
            }
            (1, Json::Object(m)) => {
                let k = if self.bool() { self.ident(10) } else { self.text(10) };
                let child = self.json(2);
                m.insert(k, child);
            }
            (2, Json::String(s)) => *s = self.mutate(s),
            (3, _) => *v = Json::Array(vec![v.take()]),
            _ => *v = self.json(2),
        }
    }
}

/// The seed of iteration `i` of target `name`: each input reproducible on its own.
pub fn input_seed(seed: u64, name: &str, i: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let mut g = Gen::seeded(seed ^ h ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    g.next_u64()
}
