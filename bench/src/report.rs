//! Turning measurements into the markdown table and the PNG plot: per-run ratios to the limit of
//! the same run, then median and min–max over the runs.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::roles::Outcome;
use crate::{BROKER_IMPLEMENTATIONS, BROKER_SCENARIOS, Implementation, SIZES, Scenario};

/// One measurement.
pub struct Record {
    pub run: usize,
    pub scenario: Scenario,
    pub size: usize,
    pub implementation: Implementation,
    pub outcome: Outcome,
    pub server_rss: Option<u64>,
}

impl Record {
    fn rate(&self) -> f64 {
        if self.outcome.secs > 0.0 { self.outcome.completed as f64 / self.outcome.secs } else { 0.0 }
    }

    fn is_inproc(&self) -> bool {
        matches!(
            self.implementation,
            Implementation::LoopAsync
                | Implementation::LoopSync
                | Implementation::FakeAsync
                | Implementation::FakeSync
        )
    }
}

/// Median, min and max.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(mut values: Vec<f64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    let median =
        if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 };
    Some(Spread { median, min: values[0], max: values[values.len() - 1] })
}

fn show(spread: Option<Spread>, digits: usize) -> String {
    match spread {
        Some(Spread { median, min, max }) => format!("{median:.digits$} ({min:.digits$}–{max:.digits$})"),
        None => "–".to_owned(),
    }
}

/// The limit a row is compared with.
fn limit_of(implementation: Implementation) -> Implementation {
    match implementation {
        Implementation::FakeAsync => Implementation::LoopAsync,
        Implementation::FakeSync => Implementation::LoopSync,
        other if matches!(other, Implementation::LoopAsync | Implementation::LoopSync) => other,
        _ => Implementation::Limit,
    }
}

fn target_of(scenario: Scenario, inproc: bool) -> Option<f64> {
    match (scenario, inproc) {
        (_, true) => Some(0.7),
        (Scenario::Sequential, false) => Some(0.85),
        (Scenario::Outstanding(16), false) => Some(0.80),
        (Scenario::Outstanding(_), false) => Some(0.75),
        (Scenario::Casts | Scenario::Notifications, false) => Some(0.6),
        _ => None,
    }
}

fn find<'a>(records: &'a [Record], like: &Record, implementation: Implementation) -> Option<&'a Record> {
    records.iter().find(|r| {
        r.run == like.run
            && r.scenario == like.scenario
            && r.size == like.size
            && r.implementation == implementation
            && r.is_inproc() == like.is_inproc()
    })
}

/// Per-run ratios of a row to another implementation measured in the same run.
fn ratios(records: &[Record], rows: &[&Record], to: Implementation) -> Vec<f64> {
    rows.iter()
        .filter_map(|row| {
            let reference = find(records, row, to)?.rate();
            (reference > 0.0).then(|| row.rate() / reference)
        })
        .collect()
}

fn rows(
    records: &[Record],
    scenario: Scenario,
    size: usize,
    implementation: Implementation,
    inproc: bool,
) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| {
            r.scenario == scenario
                && r.size == size
                && r.implementation == implementation
                && r.is_inproc() == inproc
        })
        .collect()
}

fn mib(kib: Option<u64>) -> f64 {
    kib.map_or(0.0, |k| k as f64 / 1024.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// The markdown table of every row.
pub fn table(records: &[Record], runs: usize, smoke: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# courier benchmarks\n");
    if smoke {
        let _ = writeln!(out, "**Smoke run** (tiny counts, one run): the figures mean nothing.\n");
    }
    let _ = writeln!(
        out,
        "{runs} interleaved run(s); each cell is the median (min–max over the runs). A ratio is the row's \
         rate divided by the limit's rate measured in the same run, then the median of those ratios.\n"
    );
    let _ = writeln!(out, "## RabbitMQ (client and server in separate processes)\n");
    let _ = writeln!(
        out,
        "\"{}\" is the same loop doing what oslo's wire obligations ask of a call (a publishing \
         connection apart from the consuming one, publisher confirms awaited, the 2.0 envelope, a \
         topic exchange, a TTL on the request, a mandatory reply, acked requests and replies): \
         what any oslo-compatible client and server pay on this broker, for comparison.\n",
        Implementation::LimitOslo.name()
    );
    let _ = writeln!(
        out,
        "| scenario | payload | implementation | ops/s | ratio to limit | × Python | p50 µs | p99 µs | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for size in SIZES {
        for scenario in BROKER_SCENARIOS {
            for implementation in BROKER_IMPLEMENTATIONS {
                let rows = rows(records, scenario, size, implementation, false);
                if rows.is_empty() {
                    continue;
                }
                let rates = spread(rows.iter().map(|r| r.rate()).collect());
                let to_limit = spread(ratios(records, &rows, Implementation::Limit));
                let courier =
                    matches!(implementation, Implementation::CourierAsync | Implementation::CourierSync);
                let publishes = matches!(scenario, Scenario::Casts | Scenario::Notifications);
                let to_python = if courier && publishes {
                    spread(ratios(records, &rows, Implementation::Python))
                } else {
                    None
                };
                let p50 = spread(rows.iter().filter_map(|r| r.outcome.p50_us).collect());
                let p99 = spread(rows.iter().filter_map(|r| r.outcome.p99_us).collect());
                let target = match (courier, target_of(scenario, false)) {
                    (true, Some(target)) => {
                        let met_limit = to_limit.as_ref().is_some_and(|s| s.median >= target);
                        let met_python = !publishes || to_python.as_ref().is_some_and(|s| s.median >= 13.0);
                        let python = if publishes { " and ≥ 13× Python" } else { "" };
                        format!("≥ {target}{python}: {}", verdict(met_limit && met_python))
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "| {scenario} | {size} B | {} | {} | {} | {} | {} | {} | {target} |",
                    implementation.name(),
                    show(rates, 0),
                    if implementation == Implementation::Limit { "1".to_owned() } else { show(to_limit, 2) },
                    show(to_python, 1),
                    show(p50, 0),
                    show(p99, 0),
                );
            }
        }
    }
    let _ = writeln!(out, "\n## 10 000 outstanding calls from one client (100 B)\n");
    let _ = writeln!(
        out,
        "| implementation | completed | calls/s | ratio to limit | client peak RSS MiB | server peak RSS MiB | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for implementation in [Implementation::Limit, Implementation::CourierAsync, Implementation::CourierSync] {
        let rows = rows(records, Scenario::Flood, 100, implementation, false);
        if rows.is_empty() {
            continue;
        }
        let expected = rows.iter().map(|r| r.outcome.completed).min().unwrap_or(0);
        let all_complete = rows.iter().all(|r| {
            find(records, r, Implementation::Limit)
                .is_some_and(|l| l.outcome.completed == r.outcome.completed)
        });
        let client = spread(rows.iter().map(|r| mib(r.outcome.rss_kib)).collect());
        let server = spread(rows.iter().map(|r| mib(r.server_rss)).collect());
        let worst = rows.iter().map(|r| mib(r.outcome.rss_kib).max(mib(r.server_rss))).fold(0.0, f64::max);
        let target = if implementation == Implementation::Limit {
            String::new()
        } else {
            format!("all complete, RSS ≤ 150 MiB: {}", verdict(all_complete && worst <= 150.0))
        };
        let _ = writeln!(
            out,
            "| {} | {expected} (fewest of the runs) | {} | {} | {} | {} | {target} |",
            implementation.name(),
            show(spread(rows.iter().map(|r| r.rate()).collect()), 0),
            if implementation == Implementation::Limit {
                "1".to_owned()
            } else {
                show(spread(ratios(records, &rows, Implementation::Limit)), 2)
            },
            show(client, 1),
            show(server, 1),
        );
    }
    let _ = writeln!(
        out,
        "\n## Isolation: sequential `async fn` calls alone, then while 8 sync methods sleep 200 ms each (RabbitMQ, 100 B)\n"
    );
    let _ = writeln!(out, "| p99 unloaded µs | p99 with sleepers µs | loaded / unloaded | target |");
    let _ = writeln!(out, "|---|---|---|---|");
    let isolation = rows(records, Scenario::Isolation, 100, Implementation::CourierAsync, false);
    if !isolation.is_empty() {
        let unloaded = spread(isolation.iter().filter_map(|r| r.outcome.p99_us).collect());
        let loaded = spread(isolation.iter().filter_map(|r| r.outcome.loaded_p99_us).collect());
        let ratio = spread(
            isolation.iter().filter_map(|r| Some(r.outcome.loaded_p99_us? / r.outcome.p99_us?)).collect(),
        );
        let met = ratio.as_ref().is_some_and(|s| s.median <= 1.2);
        let _ = writeln!(
            out,
            "| {} | {} | {} | ≤ 1.2: {} |",
            show(unloaded, 0),
            show(loaded, 0),
            show(ratio, 2),
            verdict(met)
        );
    }
    let _ = writeln!(out, "\n## In process (`fake://`, one process, 2-worker runtime, 100 B)\n");
    let _ = writeln!(out, "| scenario | implementation | calls/s | ratio to the memory loop | target |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for scenario in [Scenario::Sequential, Scenario::Outstanding(16)] {
        for implementation in [
            Implementation::LoopAsync,
            Implementation::FakeAsync,
            Implementation::LoopSync,
            Implementation::FakeSync,
        ] {
            let rows = rows(records, scenario, 100, implementation, true);
            if rows.is_empty() {
                continue;
            }
            let limit = limit_of(implementation);
            let ratio = spread(ratios(records, &rows, limit));
            let target = if limit == implementation {
                String::new()
            } else {
                format!("≥ 0.7: {}", verdict(ratio.as_ref().is_some_and(|s| s.median >= 0.7)))
            };
            let label = if scenario == Scenario::Sequential {
                "sequential".to_owned()
            } else {
                "16 callers".to_owned()
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {target} |",
                implementation.name(),
                show(spread(rows.iter().map(|r| r.rate()).collect()), 0),
                if limit == implementation { "1".to_owned() } else { show(ratio, 2) },
            );
        }
    }
    out
}

/// One bar of the plot: a courier row's median ratio and its target.
struct Bar {
    label: String,
    ratio: f64,
    target: Option<f64>,
}

fn bars(records: &[Record]) -> Vec<Bar> {
    let mut bars = Vec::new();
    let mut push = |label: String, rows: Vec<&Record>, to: Implementation, target: Option<f64>| {
        if let Some(spread) = spread(ratios(records, &rows, to)) {
            bars.push(Bar { label, ratio: spread.median, target });
        }
    };
    for size in SIZES {
        for scenario in BROKER_SCENARIOS {
            for implementation in [Implementation::CourierAsync, Implementation::CourierSync] {
                let label =
                    format!("{scenario} {size}B {}", implementation.name().trim_start_matches("courier "));
                push(
                    label,
                    rows(records, scenario, size, implementation, false),
                    Implementation::Limit,
                    target_of(scenario, false),
                );
            }
        }
    }
    for implementation in [Implementation::CourierAsync, Implementation::CourierSync] {
        let label = format!("10k outstanding {}", implementation.name().trim_start_matches("courier "));
        push(label, rows(records, Scenario::Flood, 100, implementation, false), Implementation::Limit, None);
    }
    for scenario in [Scenario::Sequential, Scenario::Outstanding(16)] {
        for implementation in [Implementation::FakeAsync, Implementation::FakeSync] {
            let label = format!(
                "in-process {scenario} {}",
                implementation.name().trim_start_matches("courier fake:// ")
            );
            push(
                label,
                rows(records, scenario, 100, implementation, true),
                limit_of(implementation),
                Some(0.7),
            );
        }
    }
    bars
}

/// The font of the plot's text, committed with the crate so the plot builds anywhere.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// Draws every courier row's median ratio to its limit as a horizontal bar, its target as a red
/// tick.
pub fn plot(records: &[Record], path: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the bundled font is invalid")?;
    let bars = bars(records);
    let height = 120 + 26 * bars.len() as u32;
    let root = BitMapBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let widest = bars.iter().map(|b| b.ratio.max(b.target.unwrap_or(0.0))).fold(1.0, f64::max) * 1.1;
    let count = bars.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption("courier / limit in the same run (median; red tick: target)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(330)
        .build_cartesian_2d(0.0..widest, (0..count).into_segmented())
        .map_err(|e| e.to_string())?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(count)
        .y_label_formatter(&|value| match value {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("ratio")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, bar)| {
            let color = if bar.target.is_none_or(|t| bar.ratio >= t) {
                BLUE.mix(0.6)
            } else {
                RGBColor(230, 140, 40).mix(0.8)
            };
            Rectangle::new(
                [(0.0, SegmentValue::Exact(i)), (bar.ratio, SegmentValue::Exact(i + 1))],
                color.filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, bar)| {
            let target = bar.target?;
            Some(PathElement::new(
                vec![(target, SegmentValue::Exact(i)), (target, SegmentValue::Exact(i + 1))],
                RED.stroke_width(3),
            ))
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
