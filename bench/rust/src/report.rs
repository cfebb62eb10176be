//! The printed table: one row per comparison, ratio = baseline / hvrt (above 1: hvrt faster).

/// What the workloads found: table rows and free-text notes printed under the table.
#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

pub struct Row {
    pub workload: String,
    pub params: String,
    pub hvrt_label: String,
    pub hvrt: f64,
    pub base_label: String,
    pub base: f64,
    pub unit: String,
}

impl Row {
    pub fn new(workload: &str, params: &str, hvrt_label: &str, hvrt: f64, base_label: &str, base: f64, unit: &str) -> Row {
        Row {
            workload: workload.into(),
            params: params.into(),
            hvrt_label: hvrt_label.into(),
            hvrt,
            base_label: base_label.into(),
            base,
            unit: unit.into(),
        }
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A Markdown table (pastes into bench/RESULTS.md as it is), then the notes.
pub fn print(rep: &Report) {
    let rows = &rep.rows;
    println!("| workload | parameters | hvrt | hvrt value | vm-memory | vm-memory value | unit | ratio (vm-memory / hvrt) |");
    println!("|---|---|---|---:|---|---:|---|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}x |",
            r.workload,
            r.params,
            r.hvrt_label,
            num(r.hvrt),
            r.base_label,
            num(r.base),
            r.unit,
            r.base / r.hvrt
        );
    }
    println!();
    for n in &rep.notes {
        println!("- {n}");
    }
    // Machine-readable rows for bench/collect.py (bench/README.md, "Result rows"): with
    // HVRT_BENCH_RESULTS=1, one RESULT line per measured value (a baseline shared by several
    // rows is printed once per row; the collector keeps one).
    if std::env::var("HVRT_BENCH_RESULTS").map(|v| !v.is_empty() && v != "0").unwrap_or(false) {
        for r in rows {
            println!("RESULT\trust\t{}\t{}\t{}\thvrt\t{}\t{}", r.workload, r.params, r.hvrt_label, r.hvrt, r.unit);
            println!("RESULT\trust\t{}\t{}\t{}\tbaseline\t{}\t{}", r.workload, r.params, r.base_label, r.base, r.unit);
        }
    }
}
