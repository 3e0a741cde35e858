//! `npchain export`: the state dump of one node (`GET /v1/state`, streamed into the export
//! directory as it arrives), the block of its height with the finalization certificate, and the
//! boundary blocks of every epoch before it. The node is not trusted: the state hash is
//! recomputed from the dump and must be the one its block carries, and `export verify` checks
//! the certificate against the genesis validators.

use super::{
    BLOCK, Boundary, Counts, EPOCHS, ExportError, FINALIZATION, FORMAT, MANIFEST, Manifest, Written, io,
    write_state,
};
use commonware_codec::{Copying, DecodeExt};
use npchain_api::Block;
use npchain_client::Client;
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

/// How long the node may take to start answering (it waits up to 60 s for a height ahead).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the whole dump may take to arrive (the node cuts it at an hour).
const BODY_TIMEOUT: Duration = Duration::from_secs(3700);

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub node: String,
    pub dir: PathBuf,
    pub written: Written,
    pub manifest: Manifest,
    /// Boundary blocks written to `epochs.jsonl`.
    pub boundaries: u64,
}

/// Exports the state at `height` (or the node's committed height) from the first of `nodes`
/// that answers into `dir` (new, or empty). `progress` sees the counts as the dump arrives.
pub fn export(
    nodes: &[String],
    height: Option<u64>,
    dir: &Path,
    progress: impl FnMut(&Counts),
) -> Result<Exported, ExportError> {
    prepare(dir)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(ANSWER_TIMEOUT))
        .timeout_recv_body(Some(BODY_TIMEOUT))
        .build()
        .into();
    let query = height.map(|h| format!("?height={h}")).unwrap_or_default();
    let mut tried = Vec::new();
    for node in nodes {
        let node = node.trim_end_matches('/');
        let mut response = match agent.get(&format!("{node}/v1/state{query}")).call() {
            Ok(r) => r,
            Err(e) => {
                tried.push((node.to_owned(), e));
                continue;
            }
        };
        let status = response.status().as_u16();
        if status != 200 {
            let value: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
            let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            return Err(ExportError::Api {
                node: node.to_owned(),
                status,
                code: field("error"),
                message: field("message"),
            });
        }
        let body = response.into_body().into_reader();
        let written = write_state(body, node, dir, progress)?;
        return finish(node, dir, written);
    }
    Err(ExportError::Unreachable { tried })
}

/// The directory made, or an empty one taken.
fn prepare(dir: &Path) -> Result<(), ExportError> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() {
            return Err(ExportError::NotEmpty { path: dir.to_owned() });
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// The block, its certificate and the boundary blocks, from the node that sent the dump; the
/// recomputed state hash must be the block's.
fn finish(node: &str, dir: &Path, written: Written) -> Result<Exported, ExportError> {
    let client = Client::new(vec![node.to_owned()]);
    let height = written.header.height;
    let proof = client.finality(height).map_err(Box::new)?;
    let block = Block::decode(Copying(proof.block.as_slice())).map_err(|source| ExportError::Block {
        node: node.to_owned(),
        height,
        source,
    })?;
    if block.height != height {
        return Err(ExportError::WrongBlock { node: node.to_owned(), height, got: block.height });
    }
    if block.state_hash != written.state_hash {
        return Err(ExportError::Inconsistent {
            node: node.to_owned(),
            height,
            computed: written.state_hash,
            certified: block.state_hash,
        });
    }
    write(&dir.join(BLOCK), &proof.block)?;
    write(&dir.join(FINALIZATION), &proof.certificate)?;
    let blocks_per_epoch = client.status().map_err(Box::new)?.blocks_per_epoch.max(1);
    let path = dir.join(EPOCHS);
    let mut lines = Vec::new();
    for epoch in 1..=height / blocks_per_epoch {
        let boundary = epoch * blocks_per_epoch - 1;
        let proof = client.finality(boundary).map_err(Box::new)?;
        let record = Boundary {
            epoch,
            height: boundary,
            block: commonware_formatting::hex(&proof.block),
            certificate: commonware_formatting::hex(&proof.certificate),
        };
        let line = serde_json::to_string(&record)
            .map_err(|source| ExportError::Json { path: path.clone(), source })?;
        lines.push(line);
    }
    let boundaries = lines.len() as u64;
    write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes())?;
    let c = written.counts;
    let manifest = Manifest {
        format: FORMAT,
        height,
        block_time_ms: written.header.block_time_ms,
        state_hash: written.state_hash.to_string(),
        entries: c.entries,
        operators: c.operators,
        ranges: c.ranges,
        ported: c.ported,
    };
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|source| ExportError::Json { path: path.clone(), source })?;
    write(&path, format!("{text}\n").as_bytes())?;
    Ok(Exported { node: node.to_owned(), dir: dir.to_owned(), written, manifest, boundaries })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io(path))
}
