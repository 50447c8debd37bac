//! Small `serde_json::Value` helpers shared by config, the CLI and the RPC layer.

use serde_json::Value;

/// The string items of a JSON array (non-strings skipped); empty when absent or not an array.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn strings_of_arrays() {
        assert_eq!(super::strings(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert!(super::strings(Some(&json!("x"))).is_empty());
        assert!(super::strings(None).is_empty());
    }
}
