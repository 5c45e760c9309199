//! The status page (HTML, in the spirit of mod_status: no script, no external
//! resource, small inline SVG charts) and its `?json` form. Every text that
//! came from a request or from a daemon's memory is escaped here.

use std::fmt::Write;

use crate::layout::{HISTORY, HISTORY_SECONDS};
use crate::read::ProcessSnapshot;
use crate::report::Area;

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// Escapes text for a JSON string (without the quotes).
pub fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '<' => o.push_str("\\u003c"),
            '>' => o.push_str("\\u003e"),
            '&' => o.push_str("\\u0026"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn label(a: &Area) -> String {
    if a.daemon { format!("daemon group {}", a.group) } else { "embedded (Apache's children)".to_string() }
}

/// Per history slot over every process of an area: (requests/s, mean queue s, mean application s), oldest first.
pub fn series(a: &Area, now_us: u64) -> Vec<(f64, f64, f64)> {
    let current = now_us / 1_000_000 / HISTORY_SECONDS;
    (0..HISTORY as u64)
        .rev()
        .map(|back| {
            let epoch = current.saturating_sub(back);
            let (mut n, mut app, mut queue) = (0u64, 0u64, 0u64);
            for p in &a.processes {
                for h in p.history.iter().filter(|h| h.0 == epoch) {
                    n = n.saturating_add(h.1);
                    app = app.saturating_add(h.2);
                    queue = queue.saturating_add(h.3);
                }
            }
            let mean = |t: u64| if n > 0 { t as f64 / n as f64 / 1e6 } else { 0.0 };
            (n as f64 / HISTORY_SECONDS as f64, mean(queue), mean(app))
        })
        .collect()
}

fn chart(title: &str, unit: &str, values: &[f64]) -> String {
    let (w, h) = (300.0, 60.0);
    let max = values.iter().cloned().fold(0.0f64, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    let step = w / (values.len().max(2) - 1) as f64;
    let points: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, h - v / scale * (h - 4.0))).collect();
    format!(
        "<figure class=\"chart\"><figcaption>{} (max {:.3} {})</figcaption>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#f6f6f6\"/><polyline fill=\"none\" stroke=\"#2a6\" stroke-width=\"2\" points=\"{}\"/></svg></figure>",
        html_escape(title),
        max,
        unit,
        html_escape(title),
        points.join(" ")
    )
}

fn secs_ago(now_us: u64, t: u64) -> f64 {
    now_us.saturating_sub(t) as f64 / 1e6
}

fn process_row(o: &mut String, i: usize, p: &ProcessSnapshot, now_us: u64, daemon: bool) {
    let busy = p.busy_threads();
    let _ = write!(
        o,
        "<tr><td>{i}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{busy}</td><td>{}</td><td>{}</td></tr>",
        p.pid,
        secs_ago(now_us, p.started_us),
        p.requests,
        p.threads.max(busy) - busy,
        if daemon { format!("{:.1} MiB", p.rss_bytes as f64 / 1048576.0) } else { "-".into() }
    );
}

/// The HTML page.
pub fn html(areas: &[Area], now_us: u64) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mod_rwsgi status</title>\
        <style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
        .chart{display:inline-block;margin:0 1em 0 0}.chart figcaption{font-size:80%}section{margin-bottom:2em}</style></head><body>\
        <h1>mod_rwsgi status</h1>");
    for a in areas {
        let id = if a.daemon { format!("group-{}", a.group.bytes().map(|b| format!("{b:02x}")).collect::<String>()) } else { "embedded".into() };
        let _ = write!(o, "<section class=\"area\" id=\"{}\"><h2>{}</h2>", html_escape(&id), html_escape(&label(a)));
        let s = series(a, now_us);
        o.push_str(&chart("requests per second", "req/s", &s.iter().map(|x| x.0).collect::<Vec<_>>()));
        if a.daemon {
            o.push_str(&chart("queue wait", "s", &s.iter().map(|x| x.1).collect::<Vec<_>>()));
        }
        o.push_str(&chart("latency (application time)", "s", &s.iter().map(|x| x.2).collect::<Vec<_>>()));
        let _ = write!(o, "<p>Last {} minutes, {} s steps.</p>", HISTORY as u64 * HISTORY_SECONDS / 60, HISTORY_SECONDS);
        o.push_str("<table class=\"processes\"><tr><th>process</th><th>pid</th><th>up (s)</th><th>requests</th><th>busy threads</th><th>idle threads</th><th>RSS</th></tr>");
        for (i, p) in a.processes.iter().enumerate().filter(|(_, p)| p.pid != 0 || p.requests != 0) {
            process_row(&mut o, i, p, now_us, a.daemon);
        }
        o.push_str("</table><h3>Requests in progress</h3><table class=\"requests\"><tr><th>process</th><th>thread</th><th>elapsed (s)</th><th>URL</th></tr>");
        for (i, p) in a.processes.iter().enumerate() {
            for t in &p.thread {
                if let Some(b) = &t.busy {
                    let _ = write!(
                        o,
                        "<tr class=\"request\"><td>{i}</td><td>{}</td><td>{:.3}</td><td class=\"url\">{}</td></tr>",
                        t.id,
                        secs_ago(now_us, b.start_us),
                        html_escape(&String::from_utf8_lossy(&b.url))
                    );
                }
            }
        }
        o.push_str("</table>");
        if a.daemon {
            o.push_str("<h3>Recent restarts</h3><table class=\"restarts\"><tr><th>process</th><th>pid</th><th>ago (s)</th><th>reason</th></tr>");
            let mut all: Vec<(usize, &crate::read::Restart)> = a.processes.iter().enumerate().flat_map(|(i, p)| p.restarts.iter().map(move |r| (i, r))).collect();
            all.sort_by_key(|(_, r)| std::cmp::Reverse(r.0));
            for (i, (at, reason, pid)) in all.into_iter().take(20) {
                let _ = write!(o, "<tr class=\"restart\"><td>{i}</td><td>{pid}</td><td>{:.0}</td><td>{}</td></tr>", secs_ago(now_us, *at), reason.map_or("unknown", |r| r.name()));
            }
            o.push_str("</table>");
        }
        o.push_str("</section>");
    }
    o.push_str("</body></html>\n");
    o
}

/// The same, for machines.
pub fn json(areas: &[Area], now_us: u64) -> String {
    let mut o = String::from("{\"areas\":[");
    for (k, a) in areas.iter().enumerate() {
        if k > 0 {
            o.push(',');
        }
        let _ = write!(o, "{{\"group\":\"{}\",\"daemon\":{},\"processes\":[", json_escape(&a.group), a.daemon);
        let mut first = true;
        for (i, p) in a.processes.iter().enumerate().filter(|(_, p)| p.pid != 0 || p.requests != 0) {
            if !first {
                o.push(',');
            }
            first = false;
            let busy = p.busy_threads();
            let _ = write!(
                o,
                "{{\"process\":{i},\"pid\":{},\"started\":{:.6},\"requests\":{},\"busy_threads\":{busy},\"idle_threads\":{},\"rss_bytes\":{},\"requests_in_progress\":[",
                p.pid,
                p.started_us as f64 / 1e6,
                p.requests,
                p.threads.max(busy) - busy,
                p.rss_bytes
            );
            let mut f2 = true;
            for t in &p.thread {
                if let Some(b) = &t.busy {
                    if !f2 {
                        o.push(',');
                    }
                    f2 = false;
                    let _ = write!(o, "{{\"thread\":{},\"elapsed\":{:.6},\"url\":\"{}\"}}", t.id, secs_ago(now_us, b.start_us), json_escape(&String::from_utf8_lossy(&b.url)));
                }
            }
            o.push_str("],\"restarts\":[");
            for (j, (at, reason, pid)) in p.restarts.iter().enumerate() {
                if j > 0 {
                    o.push(',');
                }
                let _ = write!(o, "{{\"at\":{:.6},\"reason\":\"{}\",\"pid\":{pid}}}", *at as f64 / 1e6, reason.map_or("unknown", |r| r.name()));
            }
            o.push_str("]}");
        }
        o.push_str("],\"history\":[");
        for (j, (rate, queue, app)) in series(a, now_us).iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let _ = write!(o, "{{\"requests_per_second\":{rate:.3},\"queue_wait\":{queue:.6},\"latency\":{app:.6}}}");
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Region;
    use crate::read;

    #[test]
    fn urls_are_escaped() {
        let b = Region::private_block();
        b.pid.store(7, std::sync::atomic::Ordering::Relaxed);
        b.thread[0].begin(1, b"/x?<script>alert(1)</script>&\"");
        let p = read::process(b);
        let areas = [Area { group: "<g>".into(), daemon: true, processes: vec![p], front: None }];
        let page = html(&areas, 2_000_000);
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;"), "{page}");
        assert!(page.contains("daemon group &lt;g&gt;"));
        let j = json(&areas, 2_000_000);
        assert!(!j.contains("<script>") && j.contains("\\u003cscript\\u003e"), "{j}");
    }

    #[test]
    fn history_series() {
        let b = Region::private_block();
        let now = 1_000_000_000u64 * 1_000_000;
        b.history(now, 2_000, 1_000);
        b.history(now, 4_000, 1_000);
        let areas = [Area { group: "g".into(), daemon: true, processes: vec![read::process(b)], front: None }];
        let s = series(&areas[0], now);
        assert_eq!(s.len(), HISTORY);
        let last = s.last().unwrap();
        assert!((last.0 - 0.2).abs() < 1e-9 && (last.2 - 0.003).abs() < 1e-9 && (last.1 - 0.001).abs() < 1e-9, "{last:?}");
    }
}
