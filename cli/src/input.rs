//! JSON given on the command line: inline, `@FILE`, or `-` for stdin.

use std::io::Read;

use serde_json::{Map, Value};

/// Reads the JSON `spec` names: the text itself, the file after `@`, or stdin for `-`.
/// `option` (e.g. `--args`) names it in messages.
///
/// # Errors
/// A one-line message when the file or stdin cannot be read or the JSON is malformed.
pub fn read_json(spec: &str, option: &str, stdin: &mut dyn Read) -> Result<Value, String> {
    let (text, origin) = if spec == "-" {
        let mut text = String::new();
        stdin.read_to_string(&mut text).map_err(|e| format!("cannot read {option} from stdin: {e}"))?;
        (text, " (from stdin)".to_owned())
    } else if let Some(path) = spec.strip_prefix('@') {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {option} file {path}: {e}"))?;
        (text, format!(" (from {path})"))
    } else {
        (spec.to_owned(), String::new())
    };
    serde_json::from_str(&text).map_err(|e| format!("malformed JSON in {option}{origin}: {e}"))
}

/// [`read_json`], which must give a JSON object (keyword arguments, a context, ...).
///
/// # Errors
/// As [`read_json`], and when the JSON is not an object.
pub fn read_object(spec: &str, option: &str, stdin: &mut dyn Read) -> Result<Map<String, Value>, String> {
    match read_json(spec, option, stdin)? {
        Value::Object(map) => Ok(map),
        other => Err(format!("{option} must be a JSON object, not {}", kind(&other))),
    }
}

/// Checks that at most one of `specs` reads stdin.
///
/// # Errors
/// A message naming the options that both ask for it.
pub fn at_most_one_stdin(specs: &[(&str, Option<&str>)]) -> Result<(), String> {
    let from_stdin: Vec<&str> =
        specs.iter().filter(|(_, spec)| *spec == Some("-")).map(|(option, _)| *option).collect();
    if from_stdin.len() > 1 {
        return Err(format!("only one option may read stdin (`-`), but {} all do", from_stdin.join(" and ")));
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_stdin() -> impl Read {
        std::io::empty()
    }

    #[test]
    fn inline_json() {
        let map = read_object(r#"{"a": [1, 2], "b": null}"#, "--args", &mut no_stdin()).unwrap();
        assert_eq!(Value::Object(map), json!({"a": [1, 2], "b": null}));
        assert_eq!(read_json("42", "--payload", &mut no_stdin()).unwrap(), json!(42));
    }

    #[test]
    fn json_from_stdin() {
        let mut stdin = std::io::Cursor::new(br#"{"from": "stdin"}"#.to_vec());
        let map = read_object("-", "--args", &mut stdin).unwrap();
        assert_eq!(map["from"], "stdin");
    }

    #[test]
    fn json_from_a_file() {
        let path = std::env::temp_dir().join(format!("courier-input-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"from": "file"}"#).unwrap();
        let spec = format!("@{}", path.display());
        let map = read_object(&spec, "--args", &mut no_stdin());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(map.unwrap()["from"], "file");

        let error = read_object("@/nonexistent/courier.json", "--args", &mut no_stdin()).unwrap_err();
        assert!(error.starts_with("cannot read --args file /nonexistent/courier.json"), "{error}");
    }

    #[test]
    fn malformed_json_and_non_objects_are_one_line_errors() {
        let error = read_object("{\"a\":\n", "--args", &mut no_stdin()).unwrap_err();
        assert!(error.starts_with("malformed JSON in --args: "), "{error}");
        assert!(!error.contains('\n'), "{error}");
        let error = read_object("[1]", "--context", &mut no_stdin()).unwrap_err();
        assert_eq!(error, "--context must be a JSON object, not an array");
        let mut stdin = std::io::Cursor::new(b"nope".to_vec());
        assert!(read_json("-", "--payload", &mut stdin).unwrap_err().contains("(from stdin)"));
    }

    #[test]
    fn only_one_option_reads_stdin() {
        assert!(at_most_one_stdin(&[("--args", Some("-")), ("--context", Some("{}"))]).is_ok());
        let error = at_most_one_stdin(&[("--args", Some("-")), ("--context", Some("-"))]).unwrap_err();
        assert!(error.contains("--args and --context"), "{error}");
    }
}
