//! `npchain bench import`: the regulator's bulk import after genesis at N numbers on a devnet
//! (`npchain_cli::import`, exactly what `npchain regulator import` runs): the check of every
//! line, the signed `ImportNumbers` transactions through node 0's batch API, and a re-run,
//! which finds every transaction in the journal. The ENUM answers of another node are checked
//! afterwards on a sample.

use super::{BenchError, Env, Figures, demo_number, devnet_rn, figure, start, write_demo_list};
use crate::import::{self, Options};
use npchain_client::regulator::Regulator;
use std::time::{Duration, Instant};

/// Transactions in flight, as the command's default.
const WINDOW: usize = 16;

pub fn import(env: &Env, count: usize) -> Result<Figures, BenchError> {
    std::fs::create_dir_all(&env.data).map_err(|e| BenchError::io(&env.data, e))?;
    let net = start(env, "import", None, Duration::from_secs(120))?;
    let csv = env.data.join(format!("import-{count}.csv"));
    write_demo_list(&csv, count)?;
    let half = count as u64 / 2;
    let journal = env.data.join(format!("import-{count}.journal"));
    let _ = std::fs::remove_file(&journal);
    let opts = Options {
        file: csv.clone(),
        journal: Some(journal.clone()),
        skip_refused: false,
        check_only: false,
        window: WINDOW,
        plain_every: Duration::from_secs(10),
    };
    let client = net.client(0);
    let failed = |e: import::ImportError| BenchError::Setup(format!("import: {e}"));
    let t0 = Instant::now();
    let first = import::run(&client, &opts, || Ok(Regulator::from_key(net.keys.regulator.clone())))
        .map_err(failed)?;
    let total_s = t0.elapsed().as_secs_f64();
    if !first.refused.is_empty() || first.committed != first.transactions {
        return Err(BenchError::Setup(format!(
            "{} lines refused, {} of {} transactions committed",
            first.refused.len(),
            first.committed,
            first.transactions
        )));
    }
    // Another node answers the new routes: a sample across the list.
    let mut probe = net.enum_probe(net.validators() - 1)?;
    let samples = 2_000u64.min(half.max(1));
    for s in 0..samples {
        let k = s * half.max(1) / samples;
        let answer = probe.ask(&demo_number(0, k * 2))?;
        let rn = super::net::answer_rn(&answer).map(str::to_owned);
        if rn != Some(devnet_rn(1)) {
            return Err(BenchError::Setup(format!(
                "{} answers {answer:?} after the import",
                demo_number(0, k * 2)
            )));
        }
    }
    let t1 = Instant::now();
    let again = import::run(&client, &opts, || Ok(Regulator::from_key(net.keys.regulator.clone())))
        .map_err(failed)?;
    let rerun_s = t1.elapsed().as_secs_f64();
    if again.committed != 0 || again.skipped != first.transactions {
        return Err(BenchError::Setup(format!(
            "the re-run committed {} and skipped {} of {} transactions",
            again.committed, again.skipped, again.transactions
        )));
    }
    let _ = std::fs::remove_file(&csv);
    let mut figures = Figures::new();
    figure(&mut figures, "numbers imported", count as f64, "numbers");
    figure(
        &mut figures,
        "transactions (ImportNumbers, up to 5,000 numbers)",
        first.transactions as f64,
        "txs",
    );
    figure(&mut figures, "check of every line against the node", first.checked_in.as_secs_f64(), "s");
    figure(&mut figures, "first submission → last commit", first.elapsed.as_secs_f64(), "s");
    figure(&mut figures, "import rate (committed numbers / submission time)", first.rate(), "numbers/s");
    figure(&mut figures, "whole command (check, sign, submit, wait)", total_s, "s");
    figure(&mut figures, "re-run (journal: every transaction skipped)", rerun_s, "s");
    if let Some((rss, _)) = net.memory_kib(0) {
        figure(&mut figures, "node 0 resident memory after", rss as f64 / 1024.0, "MiB");
    }
    Ok(figures)
}
