//! The bench report: exact percentiles per operation, as a table or as JSON.

use std::io::{self, Write};
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::runner::{OpRecord, Plan, Recorder};
use super::workload::Workload;

/// The results of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The backend's name.
    pub backend: &'static str,
    /// The workload's name.
    pub workload: &'static str,
    /// `--ops`.
    pub ops: u64,
    /// What `--ops` counted: `"iterations"` (login flows) or `"operations"`.
    pub counts: &'static str,
    /// `--concurrency`.
    pub concurrency: u32,
    /// `--payload-bytes`.
    pub payload_bytes: u32,
    /// Wall time of the run.
    pub elapsed_seconds: f64,
    /// One entry per operation, in the order the workload first makes them.
    #[serde(serialize_with = "ops_as_map")]
    pub operations: Vec<OpStats>,
    /// All operations together.
    pub total: OpStats,
}

/// What one operation (or all together) did. Latencies are exact: nearest-rank
/// percentiles over every recorded call, in nanoseconds; `None` when there were no calls.
#[derive(Debug, Serialize)]
pub struct OpStats {
    /// `contract.method`, or `total`.
    #[serde(skip)]
    pub name: &'static str,
    /// Calls made, failed ones included.
    pub count: u64,
    /// Calls per second of wall time.
    pub ops_per_sec: f64,
    pub p50_ns: Option<u64>,
    pub p90_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub max_ns: Option<u64>,
    /// Calls that failed or answered wrongly.
    pub errors: u64,
    /// What went wrong first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// The settings a report is labelled with.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo {
    pub backend: &'static str,
    pub workload: Workload,
    pub plan: Plan,
    pub concurrency: u32,
    pub payload_bytes: u32,
}

impl Report {
    /// Summarises what `recorder` saw in `elapsed`.
    pub fn new(info: RunInfo, mut recorder: Recorder, elapsed: Duration) -> Report {
        let records: Vec<_> = info
            .workload
            .ops()
            .iter()
            .map(|&op| (op.name(), recorder.take(op)))
            .collect();
        let mut all = Vec::with_capacity(records.iter().map(|(_, r)| r.latencies_ns.len()).sum());
        for (_, record) in &records {
            all.extend_from_slice(&record.latencies_ns);
        }
        let total = OpRecord {
            latencies_ns: all,
            errors: records.iter().map(|(_, r)| r.errors).sum(),
            first_error: None,
        };
        Report {
            backend: info.backend,
            workload: info.workload.name(),
            ops: info.plan.ops(),
            counts: info.plan.counts(),
            concurrency: info.concurrency,
            payload_bytes: info.payload_bytes,
            elapsed_seconds: elapsed.as_secs_f64(),
            operations: records
                .into_iter()
                .map(|(name, record)| OpStats::new(name, record, elapsed))
                .collect(),
            total: OpStats::new("total", total, elapsed),
        }
    }

    /// The report as an aligned table.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "backend {}, workload {}: {} {} with concurrency {}, payloads of {} bytes",
            self.backend,
            self.workload,
            self.ops,
            self.counts,
            self.concurrency,
            self.payload_bytes
        )?;
        let rate = per_sec(self.ops, self.elapsed_seconds);
        writeln!(
            out,
            "elapsed {:.3} s, {rate:.0} {}/s\n",
            self.elapsed_seconds, self.counts
        )?;

        let width = self
            .operations
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0)
            .max("operation".len());
        writeln!(
            out,
            "{:<width$}  {:>9}  {:>10}  {:>8}  {:>8}  {:>8}  {:>8}  {:>6}",
            "operation", "count", "ops/s", "p50", "p90", "p99", "max", "errors"
        )?;
        for stats in self.operations.iter().chain([&self.total]) {
            writeln!(
                out,
                "{:<width$}  {:>9}  {:>10.0}  {:>8}  {:>8}  {:>8}  {:>8}  {:>6}",
                stats.name,
                stats.count,
                stats.ops_per_sec,
                latency(stats.p50_ns),
                latency(stats.p90_ns),
                latency(stats.p99_ns),
                latency(stats.max_ns),
                stats.errors
            )?;
        }

        let failed: Vec<_> = self.operations.iter().filter(|o| o.errors > 0).collect();
        if !failed.is_empty() {
            writeln!(out, "\nfailures (the first of each operation):")?;
            for stats in failed {
                let first = stats.first_error.as_deref().unwrap_or("?");
                writeln!(out, "  {}: {first}", stats.name)?;
            }
        }
        Ok(())
    }

    /// The report as one JSON object.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }
}

impl OpStats {
    fn new(name: &'static str, mut record: OpRecord, elapsed: Duration) -> OpStats {
        let latencies = &mut record.latencies_ns;
        latencies.sort_unstable();
        let count = latencies.len() as u64;
        OpStats {
            name,
            count,
            ops_per_sec: per_sec(count, elapsed.as_secs_f64()),
            p50_ns: percentile(latencies, 50),
            p90_ns: percentile(latencies, 90),
            p99_ns: percentile(latencies, 99),
            max_ns: latencies.last().copied(),
            errors: record.errors,
            first_error: record.first_error,
        }
    }
}

/// The nearest-rank `p`th percentile of `sorted`: the smallest value that at least
/// `p` percent of the values are at or below.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn per_sec(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// A latency with three significant digits and a unit: `850ns`, `12.3µs`, `1.25ms`.
fn latency(ns: Option<u64>) -> String {
    let Some(ns) = ns else {
        return "-".to_owned();
    };
    let (value, unit) = match ns {
        0..1_000 => return format!("{ns}ns"),
        1_000..1_000_000 => (ns as f64 / 1e3, "µs"),
        1_000_000..1_000_000_000 => (ns as f64 / 1e6, "ms"),
        _ => (ns as f64 / 1e9, "s"),
    };
    let decimals = match value {
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    format!("{value:.decimals$}{unit}")
}

/// Operations as a JSON object keyed by name, in the report's order.
fn ops_as_map<S: Serializer>(ops: &[OpStats], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(ops.iter().map(|o| (o.name, o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 90), Some(90));
        assert_eq!(percentile(&values, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn latencies_have_three_significant_digits() {
        assert_eq!(latency(Some(850)), "850ns");
        assert_eq!(latency(Some(1_234)), "1.23µs");
        assert_eq!(latency(Some(12_345)), "12.3µs");
        assert_eq!(latency(Some(123_456)), "123µs");
        assert_eq!(latency(Some(1_250_000)), "1.25ms");
        assert_eq!(latency(Some(2_000_000_000)), "2.00s");
        assert_eq!(latency(None), "-");
    }
}
