//! The ledger store against the in-memory one, a failing disk at every point of a commit, a
//! writer killed mid-commit, and the whole ledger on redb reopened.

use super::*;
use npchain_core::{MemStore, types::Timestamp};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn meta(height: u64) -> Meta {
    Meta { height, block_time: Timestamp(height * 10), accumulator: Default::default() }
}

/// Every entry of every table.
fn dump(s: &impl ReadStore) -> Vec<(Table, Entry)> {
    Table::ALL
        .into_iter()
        .flat_map(|t| s.range(t, &[], None, usize::MAX).unwrap().into_iter().map(move |e| (t, e)))
        .collect()
}

/// (table index, key, value or deletion)
type Change = (u8, Vec<u8>, Option<Vec<u8>>);

fn batch(changes: &[Change], height: Option<u64>) -> Batch {
    let changes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>> = changes
        .iter()
        .map(|(t, k, v)| ((Table::ALL[*t as usize % Table::ALL.len()], k.clone()), v.clone()))
        .collect();
    Batch { changes, meta: height.map(meta) }
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..4, 0..3)
}

fn change_strategy() -> impl Strategy<Value = Change> {
    (0u8..4, key_strategy(), prop::option::of(prop::collection::vec(any::<u8>(), 0..4)))
}

#[test]
fn a_ledger_of_layout_1_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    drop(RedbStore::open(&path).unwrap());
    let db = Database::create(&path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(TableDefinition::<&[u8], &[u8]>::new(RETIRED_SEEN_TX)).unwrap();
    txn.commit().unwrap();
    drop(db);
    let e = RedbStore::open(&path).unwrap_err().to_string();
    assert!(e.contains("layout 1") && e.contains("seen_tx") && e.contains("old.redb"), "{e}");
}

#[test]
fn the_store_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync + std::fmt::Debug>() {}
    send_sync::<RedbStore>();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The same batches give the same tables as the in-memory store, before and after
    /// reopening; a batch without meta keeps the meta.
    #[test]
    fn behaves_like_the_memory_store(
        batches in prop::collection::vec(
            (prop::collection::vec(change_strategy(), 0..8), any::<bool>()), 1..6),
        queries in prop::collection::vec(
            (0usize..4, key_strategy(), prop::option::of(key_strategy()), 0usize..6), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let mut redb = RedbStore::open(&path).unwrap();
        let mut mem = MemStore::new();
        for (h, (b, with_meta)) in batches.iter().enumerate() {
            let b = batch(b, with_meta.then_some(h as u64 + 1));
            redb.commit(&b).unwrap();
            mem.commit(&b).unwrap();
        }
        let check = |redb: &RedbStore| -> Result<(), TestCaseError> {
            prop_assert_eq!(dump(redb), dump(&mem));
            for (t, start, end, limit) in &queries {
                let t = Table::ALL[*t];
                prop_assert_eq!(
                    redb.range(t, start, end.as_deref(), *limit).unwrap(),
                    mem.range(t, start, end.as_deref(), *limit).unwrap()
                );
                prop_assert_eq!(redb.get(t, start).unwrap(), mem.get(t, start).unwrap());
            }
            let expected = mem.meta().unwrap().map(|m| (m.height, m.block_time, m.accumulator.checksum()));
            let got = redb.meta().unwrap().map(|m| (m.height, m.block_time, m.accumulator.checksum()));
            prop_assert_eq!(got, expected);
            prop_assert_eq!(redb.height().unwrap(), mem.meta().unwrap().map(|m| m.height));
            Ok(())
        };
        check(&redb)?;
        drop(redb);
        check(&RedbStore::open(&path).unwrap())?;
    }
}

#[test]
fn a_batch_without_meta_keeps_the_meta_and_a_fresh_store_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/s.redb");
    let mut s = RedbStore::open(&path).unwrap();
    assert!(s.meta().unwrap().is_none());
    assert_eq!(s.height().unwrap(), None);
    let mut m = meta(7);
    m.accumulator.add(b"something");
    s.commit(&Batch { meta: Some(m.clone()), ..batch(&[(0, vec![1], Some(vec![2]))], None) }).unwrap();
    s.commit(&batch(&[(0, vec![3], Some(vec![4]))], None)).unwrap();
    drop(s);
    let s = RedbStore::open(&path).unwrap();
    let got = s.meta().unwrap().unwrap();
    assert_eq!((got.height, got.block_time), (7, Timestamp(70)));
    assert_eq!(got.accumulator.checksum(), m.accumulator.checksum());
    assert_ne!(got.accumulator.checksum(), meta(7).accumulator.checksum());
    assert_eq!(s.get(Table::Config, &[1]).unwrap(), Some(vec![2]));
    assert_eq!(s.get(Table::Config, &[3]).unwrap(), Some(vec![4]));
}

#[test]
fn a_corrupt_meta_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let s = RedbStore::open(&path).unwrap();
        let txn = s.db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(META_KEY, &b"short"[..]).unwrap();
        txn.commit().unwrap();
    }
    let s = RedbStore::open(&path).unwrap();
    assert!(matches!(s.meta(), Err(StoreError::Corrupt { what: "meta", .. })));
    assert!(matches!(s.height(), Err(StoreError::Corrupt { what: "meta", .. })));
}

#[test]
fn an_uncommitted_transaction_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let mut s = RedbStore::open(&path).unwrap();
    s.commit(&batch(&[(1, vec![1], Some(vec![1]))], Some(1))).unwrap();
    let before = dump(&s);
    {
        let txn = s.db.begin_write().unwrap();
        txn.open_table(table(Table::Operators)).unwrap().insert(&[2u8][..], &[2u8][..]).unwrap();
        txn.open_table(META).unwrap().insert(META_KEY, meta(2).encode().as_ref()).unwrap();
        // dropped without commit
    }
    assert_eq!(dump(&s), before);
    assert_eq!(s.height().unwrap(), Some(1));
    drop(s);
    let s = RedbStore::open(&path).unwrap();
    assert_eq!(dump(&s), before);
    assert_eq!(s.height().unwrap(), Some(1));
}

#[test]
fn a_store_in_use_is_not_opened_twice_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let _s = RedbStore::open(&path).unwrap();
    let e = RedbStore::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Backend(_)));
    let text = e.to_string();
    assert!(text.contains("s.redb") && text.contains("opening"), "{text}");
}

mod failing_disk {
    //! A disk that fails on demand: the n-th write (or sync) from now returns an error.

    use super::*;
    use crate::storage::create_tables;
    use redb::{StorageBackend, backends::FileBackend};
    use std::{
        io,
        ops::Bound,
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering::SeqCst},
        },
    };

    /// What fails: `write`/`set_len` (as a full disk does) or `sync_data`.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(super) enum Fail {
        Writes,
        Syncs,
    }

    #[derive(Debug)]
    pub(super) struct FailingDisk {
        inner: FileBackend,
        what: Fail,
        /// Operations of that kind left before they fail; 0: they all fail; u64::MAX: never.
        left: Arc<AtomicU64>,
    }

    impl FailingDisk {
        fn tick(&self, kind: Fail) -> Result<(), io::Error> {
            if kind != self.what {
                return Ok(());
            }
            let left = self.left.load(SeqCst);
            if left == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "injected: no space left"));
            }
            if left != u64::MAX {
                self.left.store(left - 1, SeqCst);
            }
            Ok(())
        }
    }

    impl StorageBackend for FailingDisk {
        fn len(&self) -> Result<u64, io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), io::Error> {
            self.tick(Fail::Writes)?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), io::Error> {
            self.tick(Fail::Syncs)?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
            self.tick(Fail::Writes)?;
            self.inner.write(offset, data)
        }
        fn close(&self) -> Result<(), io::Error> {
            self.inner.close()
        }
        fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, redb::BackendError> {
            self.inner.try_lock_range(s, e)
        }
        fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, redb::BackendError> {
            self.inner.try_lock_shared_range(s, e)
        }
        fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), redb::BackendError> {
            self.inner.lock_range(s, e)
        }
        fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), redb::BackendError> {
            self.inner.lock_shared_range(s, e)
        }
        fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), redb::BackendError> {
            self.inner.unlock_range(s, e)
        }
        fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, redb::BackendError> {
            self.inner.query_lock_range(s, e)
        }
    }

    /// Opens the ledger store at `path` over a disk that fails as `what` says once `left`
    /// reaches 0.
    pub(super) fn open(path: &Path, what: Fail, left: Arc<AtomicU64>) -> RedbStore {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        let disk = FailingDisk { inner: FileBackend::new(file).unwrap(), what, left };
        let db = Database::builder().create_with_backend(disk).unwrap();
        RedbStore {
            db: create_tables(db, path, create_ledger_tables).unwrap(),
            path: path.to_owned(),
            readers: Default::default(),
        }
    }
}

/// Block `h` of the failure test: rewrites one key, adds many (so the file grows), and
/// deletes one of block 1's.
fn growing_block(h: u64) -> Batch {
    let mut changes = BTreeMap::new();
    changes.insert((Table::Config, b"last".to_vec()), Some(h.to_be_bytes().to_vec()));
    changes.insert((Table::Numbers, vec![0]), None);
    for i in 0..200u32 {
        let key = [&h.to_be_bytes()[..], &i.to_be_bytes()].concat();
        changes.insert((Table::Orders, key), Some(vec![h as u8; 300]));
    }
    Batch { changes, meta: Some(meta(h)) }
}

/// A disk that fails at every possible point of a commit (each write, each sync): the
/// commit reports it, and the store reopened afterwards holds the block whole or not at all
/// -- and, when a write failed (a full disk), not at all.
#[test]
fn a_failing_disk_fails_the_commit_and_loses_nothing() {
    use failing_disk::Fail;
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering::SeqCst},
    };
    let dir = tempfile::tempdir().unwrap();
    for what in [Fail::Writes, Fail::Syncs] {
        for n in 0.. {
            assert!(n < 10_000, "a commit never ends");
            let path = dir.path().join(format!("{what:?}-{n}.redb"));
            let left = Arc::new(AtomicU64::new(u64::MAX));
            let mut s = failing_disk::open(&path, what, left.clone());
            let mut first = growing_block(1);
            first.changes.insert((Table::Numbers, vec![0]), Some(vec![1]));
            s.commit(&first).unwrap();
            let before = dump(&s);

            // The disk stays broken until the store is closed.
            left.store(n, SeqCst);
            let Err(e) = s.commit(&growing_block(2)) else {
                // the commit did fewer operations than n: every point has been tried
                assert_eq!(dump(&s).len(), before.len() - 1 + 200);
                assert!(n > 0, "no {what:?} failed");
                break;
            };
            let text = e.to_string();
            assert!(text.contains("block 2") && text.contains("injected"), "{text}");
            assert_eq!(s.height().unwrap(), Some(1), "a failed commit is not visible");
            assert_eq!(dump(&s), before);
            drop(s);

            let s = RedbStore::open(&path).unwrap();
            match s.height().unwrap() {
                Some(1) => assert_eq!(dump(&s), before),
                Some(2) if what == Fail::Syncs => {
                    // the data may have reached the disk before the sync failed
                    let mut expected = MemStore::new();
                    expected.commit(&first).unwrap();
                    expected.commit(&growing_block(2)).unwrap();
                    assert_eq!(dump(&s), dump(&expected));
                }
                other => panic!("after a failed {what:?} #{n} the store is at {other:?}"),
            }
        }
    }
}

mod crash {
    //! A writer process killed with SIGKILL while it commits as fast as it can.

    use super::*;
    use std::{
        io::{BufRead, BufReader, Write},
        process::{Command, Stdio},
        sync::mpsc,
        time::Duration,
    };

    /// Tells the child test where its store is; unset, the child test does nothing.
    const WRITER_ENV: &str = "NPCHAIN_STORAGE_CRASH_WRITER";
    /// Every tenth block writes this many entries to `Orders`, so the file grows mid-run.
    const BIG: u32 = 2_000;

    fn number_key(h: u64) -> Vec<u8> {
        h.to_be_bytes().to_vec()
    }

    fn number_value(h: u64) -> Vec<u8> {
        h.to_le_bytes().repeat(8)
    }

    /// Block `h`: one new number, the `SeenTxByExpiry` marker moved from `h - 1` to `h`, and on
    /// every tenth block many orders.
    fn block(h: u64) -> Batch {
        let mut changes = BTreeMap::new();
        changes.insert((Table::Numbers, number_key(h)), Some(number_value(h)));
        changes.insert((Table::SeenTxByExpiry, number_key(h - 1)), None);
        changes.insert((Table::SeenTxByExpiry, number_key(h)), Some(vec![]));
        if h.is_multiple_of(10) {
            for i in 0..BIG {
                changes.insert(
                    (Table::Orders, [number_key(h), i.to_be_bytes().to_vec()].concat()),
                    Some(vec![7; 64]),
                );
            }
        }
        Batch { changes, meta: Some(meta(h)) }
    }

    /// The child: continues the store's chain, printing each height once it is committed.
    #[test]
    fn crash_writer_child() {
        let Some(path) = std::env::var_os(WRITER_ENV) else { return };
        let mut store = RedbStore::open(Path::new(&path)).unwrap();
        let first = store.height().unwrap().unwrap_or(0) + 1;
        let mut out = std::io::stdout().lock();
        // Bounded, should the parent never kill it; a closed pipe ends it too.
        for h in first..first + 100_000 {
            store.commit(&block(h)).unwrap();
            if writeln!(out, "committed {h}").and_then(|()| out.flush()).is_err() {
                return;
            }
        }
    }

    /// Checks the store holds exactly blocks 1..=h, and returns h.
    fn check(path: &Path) -> u64 {
        let s = RedbStore::open(path).unwrap();
        let m = s.meta().unwrap().expect("the child committed at least one block");
        let h = m.height;
        assert_eq!(m.block_time, Timestamp(h * 10));
        let numbers = s.range(Table::Numbers, &[], None, usize::MAX).unwrap();
        let expected: Vec<Entry> = (1..=h).map(|i| (number_key(i), number_value(i))).collect();
        assert!(numbers == expected, "numbers are not exactly blocks 1..={h}: {} entries", numbers.len());
        assert_eq!(
            s.range(Table::SeenTxByExpiry, &[], None, usize::MAX).unwrap(),
            vec![(number_key(h), vec![])]
        );
        let orders = s.range(Table::Orders, &[], None, usize::MAX).unwrap();
        assert_eq!(orders.len() as u64, (h / 10) * u64::from(BIG));
        assert_eq!(orders.last().map(|(k, _)| k[..8].to_vec()), (h >= 10).then(|| number_key(h / 10 * 10)));
        h
    }

    /// Five times: a child process commits blocks as fast as it can and is killed with
    /// SIGKILL after reporting some; the reopened store holds every block it reported, at
    /// most one more, and nothing partial. Each round continues the last one's file, so
    /// recovery from a crash is itself tested again.
    #[test]
    fn a_killed_writer_loses_no_committed_block_and_leaves_no_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.redb");
        let test_name = concat!(module_path!(), "::crash_writer_child");
        let test_name = test_name.split_once("::").expect("crate::path").1;
        let mut stored = 0;
        for (round, kill_after) in [1u64, 7, 23, 4, 41].into_iter().enumerate() {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([test_name, "--exact", "--test-threads=1", "-q"])
                .env(WRITER_ENV, &path)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // (libtest may have written "test … … " on the same line first)
                    if let Some((_, h)) = line.rsplit_once("committed ")
                        && tx.send(h.parse::<u64>().unwrap()).is_err()
                    {
                        return;
                    }
                }
            });
            let mut reported = Vec::new();
            let mut killed = false;
            loop {
                match rx.recv_timeout(Duration::from_secs(20)) {
                    Ok(h) => reported.push(h),
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let _ = child.kill();
                        panic!("round {round}: the writer went silent");
                    }
                }
                if !killed && reported.len() as u64 == kill_after {
                    child.kill().unwrap();
                    killed = true;
                }
            }
            let status = child.wait().unwrap();
            if !killed {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                panic!("round {round}: the writer ended on its own ({status}):\n{err}");
            }
            let expected: Vec<u64> = (stored + 1..).take(reported.len()).collect();
            assert_eq!(reported, expected, "round {round}: the writer continues from the stored height");
            let last = *reported.last().unwrap();
            let h = check(&path);
            assert!(
                (last..=last + 1).contains(&h),
                "round {round}: reported {last} committed, the reopened store is at {h}"
            );
            stored = h;
        }
    }
}

mod ledger {
    //! The ledger on redb: the same blocks give the same state as on the memory store, and
    //! reopening the file gives back the same ledger.

    use super::*;
    use commonware_cryptography::Signer;
    use npchain_core::{
        Digest, Genesis, Ledger, NumberEvent, NumberRecord, OperatorRecord, PortOrder, PortRequest,
        PortedEntry, Route, Transaction, TxBody, VerifiedTx,
    };
    use npchain_testkit::{GENESIS_TIME, GenesisBuilder, key, num, op};

    const OPERATORS: [&str; 3] = ["OPA", "OPB", "OPC"];
    const NUMBERS: [&str; 5] =
        ["+49301000001", "+49301000002", "+49302000001", "+49303000001", "+49303000002"];

    fn genesis() -> Genesis {
        GenesisBuilder::three_operators("npchain-storage-test").build()
    }

    /// Numbers ported before the chain started (the migration list).
    fn migrated() -> Vec<PortedEntry> {
        vec![PortedEntry { number: num(NUMBERS[4]), operator: op("OPA"), routing_number: None }]
    }

    /// Everything a ledger answers about the test numbers and operators.
    type Answers = (
        u64,
        Timestamp,
        Digest,
        Vec<(Option<Route>, Option<NumberRecord>, Vec<(Timestamp, NumberEvent)>)>,
        Vec<Vec<PortOrder>>,
        Vec<OperatorRecord>,
    );

    fn answers<S: Store>(l: &Ledger<S>) -> Answers {
        let numbers: Vec<_> = NUMBERS
            .iter()
            .map(|n| (l.route(num(n)), l.number(num(n)).unwrap(), l.number_history(num(n)).unwrap()))
            .collect();
        let open: Vec<_> = OPERATORS.iter().map(|id| l.open_orders(&op(id), 100).unwrap()).collect();
        (l.height(), l.block_time(), l.state_hash(), numbers, open, l.operators().to_vec())
    }

    /// The same ledger on both stores; every block goes to both.
    struct Twin {
        mem: Ledger<MemStore>,
        redb: Ledger<RedbStore>,
        now: Timestamp,
        nonce: u64,
    }

    impl Twin {
        fn sign(&mut self, signer: &str, body: TxBody) -> VerifiedTx {
            self.nonce += 1;
            let k = key(signer);
            let chain_id = self.mem.chain_id();
            Transaction {
                nonce: self.nonce,
                expires_at: self.now.plus_secs(600),
                signer: k.public_key(),
                body,
            }
            .sign(&chain_id, &k)
            .verify(&chain_id)
            .unwrap()
        }

        fn block(&mut self, txs: &[VerifiedTx]) -> Vec<bool> {
            let h = self.mem.height() + 1;
            let a = self.mem.apply_block(h, self.now, txs).unwrap();
            let b = self.redb.apply_block(h, self.now, txs).unwrap();
            assert_eq!((a.state_hash, &a.results, &a.events), (b.state_hash, &b.results, &b.events));
            assert_eq!(dump(self.redb.store()), dump(self.mem.store()));
            a.results.iter().map(|(_, r)| r.is_ok()).collect()
        }

        fn request(&mut self, number: usize, donor: &str, recipient: &str) -> PortRequest {
            self.nonce += 1;
            PortRequest {
                numbers: vec![num(NUMBERS[number])],
                donor: op(donor),
                recipient: op(recipient),
                due: self.now,
                nonce: self.nonce,
            }
        }
    }

    #[test]
    fn the_ledger_on_redb_matches_the_memory_store_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger/state.redb");
        let g = genesis();
        let mut t = Twin {
            mem: Ledger::genesis(MemStore::new(), &g, migrated().into_iter().map(Ok)).unwrap(),
            redb: Ledger::genesis(RedbStore::open(&path).unwrap(), &g, migrated().into_iter().map(Ok))
                .unwrap(),
            now: GENESIS_TIME,
            nonce: 0,
        };
        assert_eq!(t.redb.state_hash(), t.mem.state_hash());
        assert_eq!(t.redb.store().height().unwrap(), Some(0));

        // A complete port of one number, another order left to the donor's silence, a refusal.
        let (alice, bob) = ("alice", "bob");
        let txs = [
            t.sign(
                "OPA",
                TxBody::Bind { number: num(NUMBERS[0]), subscriber: Some(key(alice).public_key()) },
            ),
            t.sign("OPB", TxBody::Bind { number: num(NUMBERS[2]), subscriber: Some(key(bob).public_key()) }),
            t.sign("OPC", TxBody::Bind { number: num(NUMBERS[1]), subscriber: None }),
        ];
        assert_eq!(t.block(&txs), [true, true, false]);
        t.now = t.now.plus_secs(1);
        let (r1, r2) = (t.request(0, "OPA", "OPB"), t.request(2, "OPB", "OPC"));
        let (p1, p2) = (r1.port_id(&key(alice).public_key()), r2.port_id(&key(bob).public_key()));
        let txs = [t.sign(alice, TxBody::RequestPort(r1)), t.sign(bob, TxBody::RequestPort(r2))];
        assert_eq!(t.block(&txs), [true, true]);
        t.now = t.now.plus_secs(1);
        let txs = [t.sign("OPA", TxBody::Release { port: p1 })];
        assert_eq!(t.block(&txs), [true]);
        let txs = [t.sign("OPB", TxBody::Activate { port: p1 })];
        assert_eq!(t.block(&txs), [true]);
        assert!(t.redb.route(num(NUMBERS[0])).unwrap().ported);
        assert!(t.redb.order(&p2).unwrap().unwrap().is_open());

        // Reopened from the file: the same ledger, caches included.
        let before = answers(&t.redb);
        drop(t.redb);
        t.redb = Ledger::open(RedbStore::open(&path).unwrap()).unwrap();
        assert_eq!(answers(&t.redb), before);
        assert_eq!(answers(&t.redb), answers(&t.mem));
        assert_eq!(t.redb.store().height().unwrap(), Some(4));

        // And it goes on like the memory one: the donor's silence releases p2, then p2
        // activates, then the first number returns home.
        t.now = t.now.plus_secs(5 * 3600);
        assert_eq!(t.block(&[]), [] as [bool; 0]);
        let txs = [
            t.sign("OPC", TxBody::Activate { port: p2 }),
            t.sign("OPB", TxBody::Return { number: num(NUMBERS[0]) }),
        ];
        assert_eq!(t.block(&txs), [true, true]);
        assert_eq!(t.redb.route(num(NUMBERS[2])).unwrap().serving, op("OPC"));
        assert!(!t.redb.route(num(NUMBERS[0])).unwrap().ported);
        drop(t.redb);
        let reopened = Ledger::open(RedbStore::open(&path).unwrap()).unwrap();
        assert_eq!(answers(&reopened), answers(&t.mem));
        assert_eq!(reopened.route(num(NUMBERS[4])).unwrap().serving, op("OPA"), "migrated");
    }
}
