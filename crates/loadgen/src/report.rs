//! Results: an ordered list of named figures, printed as a table or as JSON.

use serde_json::{Map, Value};

pub struct Report {
    pub mode: &'static str,
    rows: Vec<(String, Value, &'static str)>,
}

impl Report {
    pub fn new(mode: &'static str) -> Self {
        Report {
            mode,
            rows: Vec::new(),
        }
    }

    /// Adds a figure; `unit` is only shown in the table.
    pub fn add(&mut self, key: &str, value: impl Into<Value>, unit: &'static str) {
        self.rows.push((key.to_string(), value.into(), unit));
    }

    /// Adds a float rounded to 3 decimals (None → null).
    pub fn num(&mut self, key: &str, value: Option<f64>, unit: &'static str) {
        let v = value
            .filter(|v| v.is_finite())
            .map(|v| Value::from((v * 1000.0).round() / 1000.0))
            .unwrap_or(Value::Null);
        self.rows.push((key.to_string(), v, unit));
    }

    pub fn print(&self, label: &str, json: bool) {
        if json {
            let mut map = Map::new();
            map.insert("mode".into(), self.mode.into());
            map.insert("label".into(), label.into());
            for (k, v, _) in &self.rows {
                map.insert(k.clone(), v.clone());
            }
            println!("{}", Value::Object(map));
            return;
        }
        let title = if label.is_empty() {
            self.mode.to_string()
        } else {
            format!("{} ({label})", self.mode)
        };
        println!("{title}");
        let width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (k, v, unit) in &self.rows {
            let shown = match v {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("  {k:<width$}  {shown:>14} {unit}");
        }
    }
}

/// Percentile of a sorted slice (nearest rank).
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub fn progress(msg: impl AsRef<str>) {
    eprintln!("[loadgen] {}", msg.as_ref());
}
