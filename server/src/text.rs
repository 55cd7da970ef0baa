//! The rule for text from outside: no NUL (U+0000). PostgreSQL's `text` and `jsonb` cannot hold
//! it, so a NUL that got through would fail the query (a 500) instead of being refused. Every
//! edge that reads text calls these checks (the HTTP body, query and path extractors, the
//! hierarchy file, the login form), and the audit log stores what it is given with NULs made
//! visible, so that recording a refusal never fails on the text that was refused.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

/// What a NUL is shown as where the text must be kept (the audit log, a problem report).
pub const NUL_SHOWN_AS: char = '\u{FFFD}';

/// Why text was refused, for people.
pub const NUL_REASON: &str = "contains a NUL character (U+0000), which text may not hold";

/// Whether `s` holds a NUL.
#[must_use]
pub fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// `s` with every NUL replaced by [`NUL_SHOWN_AS`] (borrowed when there is none).
#[must_use]
pub fn visible(s: &str) -> Cow<'_, str> {
    if has_nul(s) {
        Cow::Owned(s.replace('\0', &NUL_SHOWN_AS.to_string()))
    } else {
        Cow::Borrowed(s)
    }
}

/// `value` with NULs in its strings and keys made visible (see [`visible`]).
#[must_use]
pub fn visible_json(value: Value) -> Value {
    match value {
        Value::String(s) if has_nul(&s) => Value::String(visible(&s).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(visible_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (visible(&k).into_owned(), visible_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Whether JSON text may hold a NUL: inside a JSON string it can only be written as the escape
/// `\u0000` (a raw NUL byte is a syntax error), so text without that sequence holds none. A
/// quick test before walking the parsed document; `true` is only a maybe (`\\u0000` is the
/// six characters `\u0000`, not a NUL).
#[must_use]
pub fn json_may_hold_nul(bytes: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    bytes.windows(ESCAPE.len()).any(|w| w == ESCAPE)
}

/// The JSON pointer (RFC 6901, `/positions/0/note`) of the first string or object key in
/// `value` that holds a NUL; `""` is the document itself.
#[must_use]
pub fn first_nul(value: &Value) -> Option<String> {
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

/// Depth-first; on a find, `path` is left pointing at it. The depth is bounded by the JSON
/// parser's recursion limit (128).
fn walk(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => has_nul(s),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            let _ = write!(path, "/{i}");
            let found = walk(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(map) => map.iter().any(|(k, v)| {
            let len = path.len();
            path.push('/');
            // A pointer escapes `~` and `/`; a NUL in the key itself is shown, not kept.
            path.push_str(&visible(k).replace('~', "~0").replace('/', "~1"));
            let found = has_nul(k) || walk(v, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The name of the first parameter of a URL query string (`a=1&b=%00`) whose name or value
/// holds a NUL once decoded (as the query extractors decode it).
#[must_use]
pub fn first_nul_in_query(query: &str) -> Option<String> {
    if !query.contains("%00") {
        return None;
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| has_nul(k) || has_nul(v))
        .map(|(k, _)| visible(&k).into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_the_first_nul_and_names_it() {
        let v = json!({"a": "ok", "b": [1, "x\u{0}y"], "c": {"d/e~": "\u{0}"}});
        assert_eq!(first_nul(&v).as_deref(), Some("/b/1"));
        let v = json!({"c": {"d/e~": "\u{0}"}});
        assert_eq!(first_nul(&v).as_deref(), Some("/c/d~1e~0"));
        let v = json!({"k\u{0}": 1});
        assert_eq!(first_nul(&v).as_deref(), Some("/k\u{FFFD}"));
        assert_eq!(first_nul(&json!("\u{0}")).as_deref(), Some(""));
        assert_eq!(first_nul(&json!({"a": ["b", 1, null, {"c": true}]})), None);
    }

    #[test]
    fn the_quick_test_never_misses() {
        let with = serde_json::to_vec(&json!({"a": "x\u{0}"})).expect("json");
        assert!(json_may_hold_nul(&with));
        assert!(!json_may_hold_nul(br#"{"a": "x\u0001"}"#));
        // A maybe only: the escaped backslash makes this six plain characters.
        assert!(json_may_hold_nul(br#"{"a": "\\u0000"}"#));
        let parsed: Value = serde_json::from_slice(br#"{"a": "\\u0000"}"#).expect("json");
        assert_eq!(first_nul(&parsed), None);
    }

    #[test]
    fn queries() {
        assert_eq!(first_nul_in_query("a=1&b=x%00y").as_deref(), Some("b"));
        assert_eq!(first_nul_in_query("a%00b=1").as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(first_nul_in_query("a=%2500"), None);
        assert_eq!(first_nul_in_query("a=1"), None);
    }

    #[test]
    fn visible_keeps_everything_else() {
        assert!(matches!(visible("abc"), Cow::Borrowed("abc")));
        assert_eq!(visible("a\u{0}b"), "a\u{FFFD}b");
        assert_eq!(
            visible_json(json!({"k\u{0}": ["\u{0}", 1]})),
            json!({"k\u{FFFD}": ["\u{FFFD}", 1]})
        );
    }
}
