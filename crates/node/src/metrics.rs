//! The node's metrics, served at `/metrics` in the Prometheus text format.

use std::sync::{
    OnceLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// What a routing query was, and how it was answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabels {
    /// `enum` (DNS) or `http`.
    pub kind: &'static str,
    /// `ported`, `not_ported`, `unknown` (NXDOMAIN / 404), `nodata`, `apex` (SOA/NS), `refused`,
    /// `formerr`, `bad_request` (HTTP 400), `error`.
    pub result: &'static str,
}

/// Why a transaction was refused, and where.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// `submit` (refused before the mempool) or `block` (refused by the ledger in a block).
    pub stage: &'static str,
    /// The refusal's stable code.
    pub reason: &'static str,
}

/// The webhook notifier's metrics (`[notify]`; zero while it is not configured).
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    /// Events the back office acknowledged (2xx).
    pub delivered: Counter,
    /// POSTs that failed (no answer, or not 2xx).
    pub failed: Counter,
    /// Committed blocks whose events are not all delivered yet.
    pub lag_blocks: Gauge,
    /// Events read and waiting for a 2xx (the POST being tried).
    pub pending_events: Gauge,
    /// Seconds since the last delivery, or since the notifier started before the first.
    since_success: Gauge<f64, AtomicU64>,
    enabled: AtomicBool,
    last_success_ms: AtomicU64,
}

impl NotifyMetrics {
    /// The notifier runs from `now_ms` (the clock of "since the last success").
    pub fn enable(&self, now_ms: u64) {
        self.last_success_ms.store(now_ms, Ordering::Relaxed);
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// A delivery succeeded at `now_ms`.
    pub fn succeeded(&self, now_ms: u64) {
        self.last_success_ms.store(now_ms, Ordering::Relaxed);
    }

    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("notify");
        r.register(
            "delivered_events",
            "Events the back office acknowledged with 2xx",
            self.delivered.clone(),
        );
        r.register("failed_attempts", "Webhook POSTs that got no 2xx answer", self.failed.clone());
        r.register(
            "lag_blocks",
            "Committed blocks whose events are not all delivered",
            self.lag_blocks.clone(),
        );
        r.register("pending_events", "Events read and waiting for a 2xx answer", self.pending_events.clone());
        r.register(
            "seconds_since_success",
            "Seconds since the last delivery (or since the notifier started)",
            self.since_success.clone(),
        );
    }

    /// Sets the time since the last success from the wall clock, when the notifier runs.
    fn refresh(&self) {
        if self.enabled.load(Ordering::Relaxed) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let last = self.last_success_ms.load(Ordering::Relaxed);
            self.since_success.set(now.saturating_sub(last) as f64 / 1000.0);
        }
    }
}

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    /// Height of the last committed block.
    pub height: Gauge,
    /// Transactions in the mempool.
    pub mempool: Gauge,
    /// The epoch consensus runs in on this node.
    pub epoch: Gauge,
    /// Validators of that epoch.
    pub validators: Gauge,
    /// Seconds from a block's proposal time to its commit on this node.
    pub commit_latency: Histogram,
    /// Routing queries served, by kind and result.
    pub queries: Family<QueryLabels, Counter>,
    /// Transactions refused, by stage and reason.
    pub tx_rejected: Family<RejectLabels, Counter>,
    /// Transactions applied by committed blocks.
    pub tx_applied: Counter,
    /// The webhook notifier's.
    pub notify: NotifyMetrics,
    /// The consensus runtime's own metrics (consensus, marshal, p2p: peer connections,
    /// messages, blocked peers), once the runtime runs.
    engine: OnceLock<Box<dyn Fn() -> String + Send + Sync>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("height", &self.height.get()).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("npchain");
        let height = Gauge::default();
        registry.register("height", "Height of the last committed block", height.clone());
        let mempool = Gauge::default();
        registry.register("mempool_transactions", "Transactions waiting in the mempool", mempool.clone());
        let epoch = Gauge::default();
        registry.register("epoch", "The epoch consensus runs in on this node", epoch.clone());
        let validators = Gauge::default();
        registry.register("validators", "Validators of the current epoch", validators.clone());
        let commit_latency = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]);
        registry.register(
            "commit_latency_seconds",
            "From a block's proposal time to its commit on this node",
            commit_latency.clone(),
        );
        let queries = Family::default();
        registry.register(
            "queries",
            "Routing queries served, by kind (enum, http) and result",
            queries.clone(),
        );
        let tx_rejected = Family::default();
        registry.register(
            "tx_rejected",
            "Transactions refused, by stage (submit, block) and reason",
            tx_rejected.clone(),
        );
        let tx_applied = Counter::default();
        registry.register("tx_applied", "Transactions applied by committed blocks", tx_applied.clone());
        let notify = NotifyMetrics::default();
        notify.register(&mut registry);
        Self {
            registry,
            height,
            mempool,
            epoch,
            validators,
            commit_latency,
            queries,
            tx_rejected,
            tx_applied,
            notify,
            engine: OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Counts one routing query.
    pub fn query(&self, kind: &'static str, result: &'static str) {
        self.queries(kind, result, 1);
    }

    /// Counts `n` answered queries of one kind and result at once.
    pub fn queries(&self, kind: &'static str, result: &'static str, n: u64) {
        self.queries.get_or_create(&QueryLabels { kind, result }).inc_by(n);
    }

    /// Counts one refused transaction.
    pub fn rejected(&self, stage: &'static str, reason: &'static str) {
        self.tx_rejected.get_or_create(&RejectLabels { stage, reason }).inc();
    }

    /// Adds the consensus runtime's metrics (its OpenMetrics text) to [`Self::render`].
    pub fn attach_engine(&self, encode: impl Fn() -> String + Send + Sync + 'static) {
        let _ = self.engine.set(Box::new(encode));
    }

    /// The OpenMetrics text exposition of every metric: the node's, then the runtime's.
    pub fn render(&self) -> String {
        self.notify.refresh();
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        if let Some(engine) = self.engine.get() {
            let engine = engine();
            let families = engine.trim_end().strip_suffix("# EOF").unwrap_or(&engine).trim_end();
            if let Some(ours) = out.strip_suffix("# EOF\n") {
                out = format!("{ours}{families}\n# EOF\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.height.set(42);
        m.query("enum", "ported");
        m.query("enum", "ported");
        m.rejected("submit", "malformed");
        let text = m.render();
        assert!(text.contains("npchain_height 42"), "{text}");
        assert!(text.contains(r#"npchain_queries_total{kind="enum",result="ported"} 2"#), "{text}");
        assert!(text.contains(r#"npchain_tx_rejected_total{stage="submit",reason="malformed"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_runtime_metrics_follow_in_one_exposition() {
        let m = Metrics::default();
        m.attach_engine(|| "# HELP p2p_connected Connected peers.\n# TYPE p2p_connected gauge\np2p_connected{peer=\"ab\"} 1\n# EOF\n".into());
        let text = m.render();
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("p2p_connected{peer=\"ab\"} 1\n# EOF\n"), "{text}");
        assert!(text.contains("npchain_height 0"), "{text}");
    }
}
