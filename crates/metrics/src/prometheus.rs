//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

/// Builds one exposition: families are declared once (HELP, TYPE), then samples.
#[derive(Default)]
pub struct Exposition {
    out: String,
    declared: Vec<&'static str>,
}

/// Escapes a label value (backslash, double quote, newline), as the format requires.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn labels(out: &mut String, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
    let all: Vec<(&str, &str)> = labels.iter().copied().chain(extra).collect();
    if all.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
    }
    out.push('}');
}

impl Exposition {
    /// Declares a family (once; later calls for the same name do nothing).
    pub fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        if self.declared.contains(&name) {
            return;
        }
        self.declared.push(name);
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, l: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        labels(&mut self.out, l, None);
        let _ = writeln!(self.out, " {}", fmt_value(value));
    }

    /// A histogram's buckets (non-cumulative counts with their upper bounds
    /// in seconds; the last is +Inf), sum and count.
    pub fn histogram(&mut self, name: &str, l: &[(&str, &str)], bounds_s: &[f64], counts: &[u64], sum_s: f64) {
        let mut cumulative = 0u64;
        for (i, c) in counts.iter().enumerate() {
            cumulative = cumulative.saturating_add(*c);
            let le = bounds_s.get(i).map_or("+Inf".to_string(), |b| fmt_value(*b));
            let _ = write!(self.out, "{name}_bucket");
            labels(&mut self.out, l, Some(("le", &le)));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_sum");
        labels(&mut self.out, l, None);
        let _ = writeln!(self.out, " {}", fmt_value(sum_s));
        let _ = write!(self.out, "{name}_count");
        labels(&mut self.out, l, None);
        let _ = writeln!(self.out, " {cumulative}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut e = Exposition::default();
        e.family("x_total", "counter", "Things.");
        e.family("x_total", "counter", "Things.");
        e.sample("x_total", &[("group", "a\"b\\c\nd")], 3.0);
        e.family("t_seconds", "histogram", "Times.");
        e.histogram("t_seconds", &[("group", "g")], &[0.005, 0.01], &[1, 2, 3], 0.5);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{group=\"a\\\"b\\\\c\\nd\"} 3\n\
             # HELP t_seconds Times.\n# TYPE t_seconds histogram\n\
             t_seconds_bucket{group=\"g\",le=\"0.005\"} 1\nt_seconds_bucket{group=\"g\",le=\"0.01\"} 3\n\
             t_seconds_bucket{group=\"g\",le=\"+Inf\"} 6\nt_seconds_sum{group=\"g\"} 0.5\nt_seconds_count{group=\"g\"} 6\n"
        );
    }
}
