//! Writes the valid seeds of every target (`tests/seeds`) into `<dir>/<target>/seed-<name>`:
//! `cargo run -p npchain-fuzz --example seeds -- crates/fuzz/corpus`.

#[path = "../tests/seeds/mod.rs"]
mod seeds;

fn main() -> std::io::Result<()> {
    let dir =
        std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "crates/fuzz/corpus".into()));
    for seed in seeds::all() {
        let target = dir.join(seed.target);
        std::fs::create_dir_all(&target)?;
        std::fs::write(target.join(format!("seed-{}", seed.name)), &seed.bytes)?;
    }
    Ok(())
}
