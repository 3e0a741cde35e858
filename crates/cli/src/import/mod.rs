//! `npchain regulator import`: a legacy NPDB extract (`number,operator[,rn]` CSV, millions of
//! lines) loaded after genesis as signed `ImportNumbers` transactions through a node's batch
//! API.
//!
//! 1. Every line is read and checked first ([`check`]): syntax, then against the network the
//!    node reports. Refused lines are reported with their line numbers and reasons; unless
//!    `skip_refused`, nothing is signed when any line is refused.
//! 2. The accepted lines, in file order, are cut into chunks of [`MAX_IMPORT`]; each chunk is
//!    one transaction (atomic: all its entries apply, or none). A chunk the journal records as
//!    committed, and a node confirms, is skipped ([`journal`]).
//! 3. Transactions are signed here and submitted with `POST /v1/txs` (checked on the committed
//!    state first), at most `window` in flight; each is waited for in its finalized block and
//!    then written to the journal. A refusal (by the precheck, or in a block: an order opened
//!    after the check) stops the import: what committed before stays, nothing after it is
//!    submitted, and the report names the chunk's lines (and the refused entry's line).

pub mod check;
pub mod journal;

use crate::progress::Progress;
use check::{Accepted, Checked, Fault, Network};
use commonware_codec::Encode;
use commonware_cryptography::{Hasher, Sha256};
use journal::{Done, Journal, JournalError};
use npchain_api::json::TxStatus;
use npchain_client::{
    Client, ClientError, Refusal,
    regulator::{Network as Signing, Regulator, RegulatorError},
};
use npchain_core::{ImportGroup, MAX_IMPORT, Timestamp, TxBody};
use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    /// Default: the file's path with `.journal` appended.
    pub journal: Option<PathBuf>,
    /// Import the accepted lines even when some are refused.
    pub skip_refused: bool,
    /// Check only; sign and submit nothing.
    pub check_only: bool,
    /// Transactions submitted and not yet in a finalized block, at most.
    pub window: usize,
    /// How often progress is written as a plain line when stderr is not a terminal.
    pub plain_every: Duration,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: usize,
    pub accepted: usize,
    /// Every refused line, in line order.
    pub refused: Vec<(usize, Fault)>,
    /// Transactions the accepted lines make.
    pub transactions: usize,
    /// Of those, skipped: the journal and a node say they are committed.
    pub skipped: usize,
    /// Committed by this run.
    pub committed: usize,
    /// Numbers in the transactions committed by this run.
    pub numbers: usize,
    /// Reading and checking every line (with the node's reads).
    pub checked_in: Duration,
    /// From the first submission to the last commit.
    pub elapsed: Duration,
    pub journal: PathBuf,
}

impl Report {
    /// Numbers a second committed by this run.
    pub fn rate(&self) -> f64 {
        self.numbers as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Regulator(#[from] RegulatorError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The transaction of lines `first_line..=last_line` was refused; `line` is the refused
    /// entry's, when the refusal names one. What committed before stays in the journal.
    #[error("the transaction of lines {first_line} to {last_line} was {refusal}{}{}", .line.map(|l| format!(" (line {l})")).unwrap_or_default(), resume_hint(.committed))]
    Refused { first_line: u32, last_line: u32, line: Option<u32>, refusal: Refusal, committed: usize },
    #[error("transaction {tx} (lines {first_line} to {last_line}) is not in a block after {waited:?}")]
    Timeout { tx: String, first_line: u32, last_line: u32, waited: Duration },
}

fn resume_hint(committed: impl std::borrow::Borrow<usize>) -> String {
    let committed = *committed.borrow();
    if committed == 0 {
        String::new()
    } else {
        format!(
            "; {committed} transaction(s) committed before it stay; fix the line and run the import again to resume"
        )
    }
}

/// How long one transaction may take from submission to its finalized block.
const COMMIT_WITHIN: Duration = Duration::from_secs(120);
/// Transactions in one `POST /v1/txs`: the node checks each on its committed state before it
/// answers, so a request of many full imports would outlast the client's timeout.
const SUBMIT_AT_ONCE: usize = 2;
/// How often the nodes' block time is read again for the transactions' validity.
const REFRESH_BLOCK_TIME: Duration = Duration::from_secs(10);

/// The journal path for `opts`.
pub fn journal_path(opts: &Options) -> PathBuf {
    opts.journal.clone().unwrap_or_else(|| {
        let mut p = opts.file.clone().into_os_string();
        p.push(".journal");
        p.into()
    })
}

/// Reads and checks the file against the network `client` reports.
pub fn check_file(
    client: &Client,
    path: &Path,
    plain_every: Duration,
) -> Result<(Network, Checked), ImportError> {
    let network = Network::fetch(client)?;
    let file = std::fs::File::open(path)
        .map_err(|source| ImportError::File { path: path.display().to_string(), source })?;
    let mut progress = Progress::count("checking", "lines", None, plain_every);
    let checked = check::check_all(std::io::BufReader::with_capacity(1 << 20, file), &network, |n| {
        progress.set(n as u64)
    });
    progress.finish();
    Ok((network, checked))
}

/// Runs an import: the check, then (unless refused lines stop it, or `check_only`) the
/// transactions. `regulator` is asked for only when there is something to sign.
pub fn run(
    client: &Client,
    opts: &Options,
    regulator: impl FnOnce() -> Result<Regulator, RegulatorError>,
) -> Result<Report, ImportError> {
    let t0 = Instant::now();
    let (network, checked) = check_file(client, &opts.file, opts.plain_every)?;
    let mut report = Report {
        checked_in: t0.elapsed(),
        lines: checked.lines,
        accepted: checked.accepted.len(),
        refused: checked.refused,
        transactions: checked.accepted.len().div_ceil(MAX_IMPORT),
        journal: journal_path(opts),
        ..Report::default()
    };
    if opts.check_only || (!report.refused.is_empty() && !opts.skip_refused) || checked.accepted.is_empty() {
        return Ok(report);
    }
    let regulator = regulator()?;
    let mut journal = Journal::open(&report.journal)?;
    submit_all(client, &regulator, &network, &checked.accepted, opts, &mut journal, &mut report)?;
    Ok(report)
}

/// One chunk's transaction, before and after submission.
struct Chunk {
    body: TxBody,
    digest: String,
    /// The line of each entry index of the transaction.
    lines: Vec<u32>,
    first_line: u32,
    last_line: u32,
}

fn chunk(network: &Network, accepted: &[Accepted]) -> Chunk {
    let entries: Vec<_> = accepted.iter().map(|a| network.entry(a)).collect();
    let (groups, origin) = ImportGroup::from_entries(&entries);
    let body = TxBody::ImportNumbers { groups };
    let digest = Sha256::hash(&[&body.encode()]).to_string();
    let lines = origin.iter().map(|&at| accepted[at].line).collect();
    Chunk {
        body,
        digest,
        lines,
        first_line: accepted.first().map_or(0, |a| a.line),
        last_line: accepted.last().map_or(0, |a| a.line),
    }
}

/// The entry index a ledger refusal names (`import entry 17 (+49…): …`).
fn refused_index(message: &str) -> Option<usize> {
    message.strip_prefix("import entry ")?.split_whitespace().next()?.parse().ok()
}

struct InFlight {
    chunk: Chunk,
    tx: String,
    numbers: usize,
    since: Instant,
}

fn submit_all(
    client: &Client,
    regulator: &Regulator,
    network: &Network,
    accepted: &[Accepted],
    opts: &Options,
    journal: &mut Journal,
    report: &mut Report,
) -> Result<(), ImportError> {
    let (net, mut block_time) = Signing::of(client)?;
    let mut block_time_read = Instant::now();
    let mut progress = Progress::count("importing", "numbers", Some(accepted.len() as u64), opts.plain_every);
    let started = Instant::now();
    let mut done_numbers = 0u64;
    let mut chunks = accepted.chunks(MAX_IMPORT);
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let window = opts.window.max(1);
    let refused = |c: &Chunk, refusal: Refusal, committed: usize| {
        let line = refused_index(&refusal.message).and_then(|i| c.lines.get(i).copied());
        ImportError::Refused { first_line: c.first_line, last_line: c.last_line, line, refusal, committed }
    };
    loop {
        // fill the window
        let mut batch = Vec::new();
        while in_flight.len() + batch.len() < window && batch.len() < SUBMIT_AT_ONCE {
            let Some(part) = chunks.next() else { break };
            let c = chunk(network, part);
            if let Some(done) = journal.get(&c.digest)
                && applied(client, &done.tx)?
            {
                report.skipped += 1;
                done_numbers += part.len() as u64;
                progress.set(done_numbers);
                continue;
            }
            if block_time_read.elapsed() > REFRESH_BLOCK_TIME {
                block_time = Timestamp(client.status()?.block_time_ms);
                block_time_read = Instant::now();
            }
            let signed = regulator.sign_for(&net, block_time, c.body.clone());
            batch.push((c, signed.encode().to_vec(), part.len()));
        }
        if !batch.is_empty() {
            let bytes: Vec<&[u8]> = batch.iter().map(|(_, b, _)| b.as_slice()).collect();
            let answer = client.submit_batch(&bytes, true)?;
            for ((c, _, numbers), result) in batch.into_iter().zip(answer.results) {
                if let Some(refusal) = Refusal::in_batch(&result) {
                    finish_in_flight(
                        client,
                        journal,
                        report,
                        &mut in_flight,
                        &mut progress,
                        &mut done_numbers,
                    )?;
                    return Err(refused(&c, refusal, report.committed));
                }
                let tx = result.id.ok_or_else(|| ClientError::Decode {
                    node: client.nodes().first().cloned().unwrap_or_default(),
                    source: npchain_client::http::Unexpected::NoTxId,
                })?;
                in_flight.push_back(InFlight { chunk: c, tx, numbers, since: Instant::now() });
            }
        }
        let Some(oldest) = in_flight.front() else { break };
        match wait_step(client, oldest)? {
            Step::Pending => std::thread::sleep(Duration::from_millis(50)),
            Step::Applied(height) => {
                let f = in_flight.pop_front().expect("the oldest");
                commit(journal, report, &f, height)?;
                done_numbers += f.numbers as u64;
                progress.set(done_numbers);
                progress.update(&format!("{} in flight", in_flight.len()));
            }
            Step::Refused(refusal) => {
                let f = in_flight.pop_front().expect("the oldest");
                finish_in_flight(client, journal, report, &mut in_flight, &mut progress, &mut done_numbers)?;
                return Err(refused(&f.chunk, refusal, report.committed));
            }
        }
    }
    report.elapsed = started.elapsed();
    progress.update("");
    progress.finish();
    Ok(())
}

enum Step {
    Pending,
    Applied(u64),
    Refused(Refusal),
}

/// One look at the oldest transaction in flight.
fn wait_step(client: &Client, f: &InFlight) -> Result<Step, ImportError> {
    match client.tx(&f.tx) {
        Ok(TxStatus::Committed { height, result, .. }) => Ok(match Refusal::in_block(height, &result) {
            None => Step::Applied(height),
            Some(refusal) => Step::Refused(refusal),
        }),
        Ok(TxStatus::Pending) | Err(ClientError::Api { status: 404, .. }) => {
            if f.since.elapsed() > COMMIT_WITHIN {
                let c = &f.chunk;
                let (first_line, last_line) = (c.first_line, c.last_line);
                return Err(ImportError::Timeout {
                    tx: f.tx.clone(),
                    first_line,
                    last_line,
                    waited: COMMIT_WITHIN,
                });
            }
            Ok(Step::Pending)
        }
        Err(e) => Err(e.into()),
    }
}

/// After a refusal: waits for what is already in flight, journaling what commits.
fn finish_in_flight(
    client: &Client,
    journal: &mut Journal,
    report: &mut Report,
    in_flight: &mut VecDeque<InFlight>,
    progress: &mut Progress,
    done_numbers: &mut u64,
) -> Result<(), ImportError> {
    while let Some(f) = in_flight.front() {
        match wait_step(client, f)? {
            Step::Pending => std::thread::sleep(Duration::from_millis(50)),
            Step::Applied(height) => {
                let f = in_flight.pop_front().expect("the oldest");
                commit(journal, report, &f, height)?;
                *done_numbers += f.numbers as u64;
                progress.set(*done_numbers);
            }
            Step::Refused(_) => {
                in_flight.pop_front();
            }
        }
    }
    progress.finish();
    Ok(())
}

fn commit(journal: &mut Journal, report: &mut Report, f: &InFlight, height: u64) -> Result<(), ImportError> {
    journal.record(Done {
        chunk: f.chunk.digest.clone(),
        tx: f.tx.clone(),
        height,
        first_line: f.chunk.first_line,
        last_line: f.chunk.last_line,
        numbers: f.numbers,
    })?;
    report.committed += 1;
    report.numbers += f.numbers;
    Ok(())
}

/// Whether a node has the transaction applied in a finalized block.
fn applied(client: &Client, tx: &str) -> Result<bool, ImportError> {
    match client.tx(tx) {
        Ok(TxStatus::Committed { result, .. }) => Ok(result.outcome == "applied"),
        Ok(TxStatus::Pending) | Err(ClientError::Api { status: 404, .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refused_entry_is_read_from_the_ledgers_message() {
        assert_eq!(
            refused_index("import entry 17 (+4915000000001): number … has an open port order"),
            Some(17)
        );
        assert_eq!(refused_index("only the regulator may sign import-numbers"), None);
    }
}
