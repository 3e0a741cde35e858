//! The table of typed numbers (`npchain_testkit::number_table`) through the core's three readers: the
//! parser, the migration list and the genesis. Each must read every row the same way.

use crate::harness::genesis;
use npchain_core::{E164, Genesis, GenesisError, NumberError, Policy, Prefix, Region, read_ported_csv};
use npchain_testkit::number_table::{NUMBERS, TABLE_REGION, Want, refusal_tag};

fn region() -> Option<Region> {
    Some(TABLE_REGION.parse().unwrap())
}

fn outcome<T>(r: &Result<T, NumberError>, value: impl Fn(&T) -> u64) -> Want {
    match r {
        Ok(v) => Want::Number(value(v)),
        // the table's tags are static; leak the few the test makes
        Err(e) => Want::Refused(Box::leak(refusal_tag(e).into_boxed_str())),
    }
}

/// Refusals decided by the characters alone, before any region or length matters.
fn lexical(tag: &str) -> bool {
    ["empty", "blank", "no_digits"].contains(&tag) || tag.contains('@')
}

#[test]
fn the_parser_reads_the_table() {
    assert!(NUMBERS.len() >= 30);
    let mut seen = std::collections::HashSet::new();
    for (input, want) in NUMBERS {
        let parsed = E164::parse(input, region());
        assert_eq!(outcome(&parsed, |n| n.value()), *want, "{input:?}: {parsed:?}");
        match parsed {
            Ok(n) => assert!(seen.insert(n), "{input:?}: two rows give {n}"),
            Err(NumberError::Empty { .. }) => {}
            Err(e) => assert!(e.to_string().contains(&format!("{input:?}")), "{input:?} is quoted: {e}"),
        }
    }
    assert!(seen.len() >= 10);
}

#[test]
fn without_a_region_only_the_plus_form_is_read() {
    for (input, want) in NUMBERS {
        let parsed = E164::parse(input, None);
        let expected = match want {
            Want::Refused(tag) if lexical(tag) => *want,
            _ if !input.starts_with('+') => Want::Refused("needs_region"),
            _ => *want,
        };
        assert_eq!(outcome(&parsed, |n| n.value()), expected, "{input:?}: {parsed:?}");
        // FromStr is the same reading
        assert_eq!(input.parse::<E164>(), parsed, "{input:?}");
    }
}

#[test]
fn the_migration_list_reads_the_table() {
    for (input, want) in NUMBERS {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["number", "operator"]).unwrap();
        w.write_record([*input, "OPA"]).unwrap();
        let text = w.into_inner().unwrap();
        let mut entries = read_ported_csv(text.as_slice(), region());
        let first = entries.next().expect("one entry");
        assert!(entries.next().is_none(), "{input:?}");
        match (first, want) {
            (Ok(entry), Want::Number(n)) => assert_eq!(entry.number.value(), *n, "{input:?}"),
            (Err(GenesisError::PortedNumber { line, source }), Want::Refused(tag)) => {
                assert_eq!((line, refusal_tag(&source).as_str()), (2, *tag), "{input:?}");
                let message = GenesisError::PortedNumber { line, source: source.clone() }.to_string();
                assert_eq!(message, format!("migration list line 2: {source}"));
                assert_eq!(Err(source), E164::parse(input, region()), "the parser's refusal");
            }
            (got, want) => panic!("{input:?}: {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn the_genesis_reads_the_table_as_range_prefixes() {
    // lengths of 15 digits fit a range of any prefix (the plan's would not fit a long one)
    let plan = "prefix = \"+49302\"\nholder = \"OPB\"\nlengths = \"7-15\"";
    let base = genesis(Policy::default()).to_toml();
    assert!(base.contains(plan), "{base}");
    let base = base.replacen(plan, "prefix = \"+49302\"\nholder = \"OPB\"\nlengths = \"15\"", 1);
    for (input, want) in NUMBERS {
        let quoted = toml::Value::String((*input).to_owned()).to_string();
        let text = base.replacen("prefix = \"+49302\"", &format!("prefix = {quoted}"), 1);
        let loaded = Genesis::from_toml(&text);
        let prefix = Prefix::parse(input, region());
        // A prefix is a number's leading digits: as short as one digit, any country code.
        let expected = match want {
            Want::Refused("too_short" | "unknown_country_code") => {
                assert!(prefix.is_ok(), "{input:?}: {prefix:?}");
                outcome(&prefix, |p| p.as_number().value())
            }
            _ => *want,
        };
        assert_eq!(outcome(&prefix, |p| p.as_number().value()), expected, "{input:?}: {prefix:?}");
        match (loaded, prefix) {
            (Ok(g), Ok(p)) => assert_eq!(g.ranges[1].prefix, p, "{input:?}"),
            (Err(GenesisError::Number { field, source }), Err(e)) => {
                assert_eq!((field.as_str(), &source), ("ranges[1].prefix", &e), "{input:?}");
                if !matches!(e, NumberError::Empty { .. }) {
                    assert!(e.to_string().contains(&format!("prefix {input:?}")), "{e}");
                }
            }
            (got, want) => panic!("{input:?}: the genesis gave {got:?}, the parser {want:?}"),
        }
    }
}
