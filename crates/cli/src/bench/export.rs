//! `npchain bench export --numbers N`: the verified export of a devnet whose genesis migrated
//! N ported numbers (the network `bench scale` builds): how fast node 0 streams its state and
//! the export is written, and how fast `export verify` checks it.

use super::{BenchError, Env, Figures, figure, start, write_demo_list};
use crate::{export, progress::Progress};
use std::time::{Duration, Instant};

pub fn export(env: &Env, count: usize) -> Result<Figures, BenchError> {
    std::fs::create_dir_all(&env.data).map_err(|e| BenchError::io(&env.data, e))?;
    let csv = env.data.join(format!("export-{count}.csv"));
    write_demo_list(&csv, count)?;
    let net = start(env, "export", Some(&csv), Duration::from_secs(4 * 3600))?;
    let _ = std::fs::remove_file(&csv);
    let dir = env.data.join("export").join("out");
    let _ = std::fs::remove_dir_all(&dir);
    let mut progress = Progress::stderr(Duration::from_secs(10));
    let t = Instant::now();
    let done = export::fetch::export(&[net.http(0)], None, &dir, |c| {
        progress.update(&format!("exporting: {} entries, {} ported numbers", c.entries, c.ported));
    })
    .map_err(|e| BenchError::Setup(format!("export: {e}")))?;
    let export_s = t.elapsed().as_secs_f64();
    progress.finish();
    if done.manifest.ported != count as u64 {
        return Err(BenchError::Setup(format!(
            "exported {} ported numbers, not {count}",
            done.manifest.ported
        )));
    }
    let path = net.layout.dir.join("genesis.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(&path, e))?;
    let genesis =
        npchain_core::Genesis::from_toml(&text).map_err(|e| BenchError::Setup(format!("genesis: {e}")))?;
    let t = Instant::now();
    let report = export::verify::verify(&dir, &genesis, |c| {
        progress.update(&format!("verifying: {} entries, {} ported numbers", c.entries, c.ported));
    })
    .map_err(|e| BenchError::Setup(format!("verify: {e}")))?;
    let verify_s = t.elapsed().as_secs_f64();
    progress.finish();
    if !report.holds() {
        return Err(BenchError::Setup(format!("the export does not verify:\n{report}")));
    }
    let bytes = done.written.counts.bytes as f64;
    let mut figures = Figures::new();
    figure(&mut figures, "ported numbers exported", count as f64, "numbers");
    figure(&mut figures, "ledger entries (state.bin)", done.manifest.entries as f64, "entries");
    figure(&mut figures, "state.bin", bytes / 1_048_576.0, "MiB");
    figure(&mut figures, "export directory", super::dir_bytes(&dir) as f64 / 1_048_576.0, "MiB");
    figure(&mut figures, "export (dump streamed, CSV written, proofs fetched)", export_s, "s");
    figure(&mut figures, "export rate", count as f64 / export_s, "numbers/s");
    figure(&mut figures, "export rate, entries", done.manifest.entries as f64 / export_s, "entries/s");
    figure(&mut figures, "export rate, bytes", bytes / 1_048_576.0 / export_s, "MiB/s");
    figure(&mut figures, "export verify", verify_s, "s");
    figure(&mut figures, "verify rate", count as f64 / verify_s, "numbers/s");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}
